// Parsing speed: a 10,000-line Dockerfile (the bench script's budget is 100 ms; the test
// allows slack for loaded CI machines but still catches accidental quadratic behaviour).
import { expect, test } from "bun:test";
import { generateDockerfile } from "../../scripts/bench-parse.ts";
import { parseDockerfile } from "../../src/dockerfile/index.ts";

test("10,000 lines parse well within budget", () => {
  const text = generateDockerfile(10_000);
  parseDockerfile(text);
  const t0 = performance.now();
  const ast = parseDockerfile(text);
  const ms = performance.now() - t0;
  expect(ast.instructions.length).toBeGreaterThan(5000);
  expect(ast.endLine).toBeGreaterThan(9_900);
  expect(ms).toBeLessThan(250);
});
