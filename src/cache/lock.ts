// A lock file for read-modify-write of an OCI layout's index.json by concurrent builds
// (processes or tasks): O_EXCL create, retried; a lock older than STALE_MS is from a crashed holder.
import { closeSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { KilnError } from "../util/errors.ts";

const STALE_MS = 30_000;
const WAIT_MS = 60_000;

export async function withLockFile<T>(path: string, f: () => T | Promise<T>): Promise<T> {
  const start = Date.now();
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      try {
        return await f();
      } finally {
        rmSync(path, { force: true });
      }
    }
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { force: true });
    } catch {
      // released meanwhile
    }
    if (Date.now() - start > WAIT_MS) throw new KilnError(`${path}: still locked after ${WAIT_MS / 1000}s`);
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
}
