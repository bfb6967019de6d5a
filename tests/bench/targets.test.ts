// The target lines micro-benchmarks print and `bench.ts --micro` collects (scripts/bench/targets.ts).
import { expect, test } from "bun:test";
import { parseTargetLines, target, targetLine, verdict } from "../../scripts/bench/targets.ts";
import { microTargets } from "../../scripts/bench/micro.ts";

test("a printed target line reads back as the same target", () => {
  const met = target("one-file-copy", 3.25, 5, "ms");
  const missed = target("per-run-overhead", 12.5, 5, "ms");
  const back = parseTargetLines([targetLine(met), "noise", `   ${targetLine(missed)}`]);
  expect(back.map((t) => [t.name, t.met, t.value, t.limit, t.unit])).toEqual([["one-file-copy", true, 3.25, 5, "ms"], ["per-run-overhead", false, 12.5, 5, "ms"]]);
  expect(verdict(back[1]!)).toBe("MISSED by 150% (7.50ms over): 12.5ms vs ≤ 5.00ms");
});

test("another benchmark's spelling with a space before the unit is read too", () => {
  const [t] = parseTargetLines(["target busybox-unpack met 14.2 ms vs ≤ 20 ms"]);
  expect(t).toMatchObject({ name: "busybox-unpack", met: true, value: 14.2, limit: 20, unit: "ms" });
});

test("--micro lists each fixed-cost target, not measured when no benchmark printed it", () => {
  const out = ["target per-run-overhead met 3.00ms vs ≤ 5.00ms"];
  const ts = microTargets([{ name: "steps", what: "", command: "", ok: true, seconds: 1, output: out }]);
  expect(ts.map((t) => [t.name, t.met])).toEqual([["per-run-overhead", true], ["one-file-copy", null], ["busybox-unpack", null]]);
  expect(verdict(ts[2]!)).toContain("not measured");
});
