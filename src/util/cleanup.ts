// Temp dirs and child processes must go away on failure and on Ctrl-C, so every owner of such a
// resource registers it here; one set of signal handlers runs them all.
import { rmSync } from "node:fs";
import { mountPointsToIgnore } from "../fs/mountinfo.ts";
import { MNT_DETACH, umount2 } from "../runtime/libc.ts";
import { KilnError } from "./errors.ts";

type Cleanup = () => void;
const cleanups = new Set<Cleanup>();
const controller = new AbortController();
let installed = false;

/**
 * Aborted on SIGINT/SIGTERM: long operations (pulls, RUN, pushes) listen to it. The reason is a
 * KilnError whose exitCode is 130 or 143, so work that ends because of it can exit with that code.
 */
export const interrupted: AbortSignal = controller.signal;

/** 130/143 once a signal arrived, else undefined: a failure caused by the interruption exits with this. */
export function interruptExitCode(): number | undefined {
  const r = controller.signal.reason;
  return controller.signal.aborted && r instanceof KilnError ? r.exitCode : undefined;
}

function runAll(): void {
  for (const c of [...cleanups].reverse()) {
    try {
      c();
    } catch { /* best effort: keep cleaning the rest */ }
  }
  cleanups.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(sig, () => {
      if (!controller.signal.aborted) {
        controller.abort(new KilnError(`interrupted by ${sig}`, code));
        // Give in-flight work a moment to notice the abort and kill its children, then clean up.
        setTimeout(() => {
          runAll();
          process.exit(code);
        }, 200).unref?.();
      } else {
        runAll();
        process.exit(code);
      }
    });
  }
}

/** Register a synchronous cleanup; returns a function that runs and unregisters it. */
export function onCleanup(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => {
    if (cleanups.delete(fn)) fn();
  };
}

/** A directory removed at exit (or earlier through the returned release function). */
export function removeOnExit(dir: string): () => void {
  return onCleanup(() => removeTree(dir));
}

/**
 * rm -rf that first detaches whatever is still mounted below `dir` (an overlay snapshot's mount
 * when a build is interrupted mid-step): rm would fail on a mount point with EBUSY and leave both.
 */
export function removeTree(dir: string): void {
  const base = dir.replace(/\/+$/, "");
  // Deepest first, so a mount on top of another comes off before the one below it.
  const mounts = mountPointsToIgnore(base).map((p) => base + p).sort((a, b) => b.length - a.length);
  for (const mp of mounts) {
    try {
      umount2(mp, MNT_DETACH);
    } catch { /* not ours to unmount, or already gone: rm reports what is left */ }
  }
  rmSync(dir, { recursive: true, force: true });
}
