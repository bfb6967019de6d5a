import { expect, test } from "bun:test";
import { parseDuration } from "../../src/util/duration.ts";

test("Go-style durations", () => {
  expect(parseDuration("336h")).toBe(336 * 3_600_000);
  expect(parseDuration("1h30m")).toBe(90 * 60_000);
  expect(parseDuration("1.5s")).toBe(1500);
  expect(parseDuration("2w")).toBe(14 * 86_400_000);
  expect(parseDuration("0")).toBe(0);
});

test("rejects what Go rejects", () => {
  for (const bad of ["", "h", "10", "5 m", "1y", "-1h"]) expect(() => parseDuration(bad)).toThrow(/invalid duration/);
});
