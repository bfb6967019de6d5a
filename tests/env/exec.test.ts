// scripts/lib/exec.ts: the exit-status guard used for debootstrap. A background grandchild that
// keeps stdout open stands in for a runtime that never reports the exit: either way `close` does
// not come, and the status the command wrote is used after the grace period.
import { expect, test } from "bun:test";
import { execCapture } from "../../scripts/lib/exec.ts";

test("guarded: output, exit status and stdin as without the guard", async () => {
  for (const guardExit of [false, true]) {
    const r = await execCapture("sh", ["-c", 'read x; echo "got $x"; echo err >&2; exit 3'], { input: "in\n", guardExit });
    expect(r).toEqual({ code: 3, stdout: "got in\n", stderr: "err\n" });
  }
});

test("guarded: a command whose exit is not reported ends with the status it wrote", async () => {
  const t0 = Date.now();
  const r = await execCapture("sh", ["-c", "sleep 30 & echo $!; exit 4"], { guardExit: true });
  const ms = Date.now() - t0;
  process.kill(Number(r.stdout.trim()));
  expect(r.code).toBe(4);
  expect(r.stdout).toMatch(/^\d+\n$/);
  expect(ms).toBeGreaterThanOrEqual(5000);
  expect(ms).toBeLessThan(25_000);
}, 40_000);
