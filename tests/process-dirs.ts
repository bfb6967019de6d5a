// Temp directories that live as long as the test process (a compiled kiln, a tar corpus), named
// `<prefix>-<pid>`. bun test does not always run exit hooks, so each new one first sweeps the
// directories of processes that are gone.
import { chmodSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function processTempDir(prefix: string): string {
  const mine = new RegExp(`^${prefix}-(\\d+)$`);
  for (const name of readdirSync(tmpdir())) {
    const pid = mine.exec(name)?.[1];
    if (pid && !alive(Number(pid))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  const dir = join(tmpdir(), `${prefix}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  chmodSync(dir, 0o755); // tests run binaries from here as an unprivileged user too
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
