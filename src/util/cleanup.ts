// Temp dirs and child processes must go away on failure and on Ctrl-C, so every owner of such a
// resource registers it here; one set of signal handlers runs them all.
import { rmSync } from "node:fs";

type Cleanup = () => void;
const cleanups = new Set<Cleanup>();
const controller = new AbortController();
let installed = false;

/** Aborted on SIGINT/SIGTERM: long operations (pulls, RUN, pushes) listen to it. */
export const interrupted: AbortSignal = controller.signal;

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
        controller.abort(new Error(`interrupted by ${sig}`));
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
  return onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}
