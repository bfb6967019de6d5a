// Where a build's milliseconds go: named phases of the current step (run, snapshot, layer write)
// and of the build (start-up, open, stages, cache wait, push). Cheap enough to be always on; the
// executor logs them with each step-done event and in one "timing" event at the end (-v debug
// shows them as text), and scripts/bench-steps.ts reads them to time kiln's own code path.

/** Milliseconds since the process started (performance's time origin is the process start on Bun and Deno). */
export function sinceStart(): number {
  return performance.now();
}

/** Accumulates milliseconds per phase name until taken. */
export class PhaseTimes {
  private ms = new Map<string, number>();

  add(name: string, ms: number): void {
    this.ms.set(name, (this.ms.get(name) ?? 0) + ms);
  }

  /** Run `f` and add its wall time to `name` (also when it throws). */
  async time<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.add(name, performance.now() - t0);
    }
  }

  /** The phases so far, rounded to 0.1 ms, and a fresh start. */
  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.ms) out[k] = Math.round(v * 10) / 10;
    this.ms.clear();
    return out;
  }
}

/**
 * The current step's phases: filled by the step's code (stage-exec.ts, layer-writer.ts), taken when
 * it is done. One per process: platforms built at once (--platform a,b) mix theirs.
 */
export const stepPhases = new PhaseTimes();

/** The build's phases (src/executor/index.ts). */
export const buildPhases = new PhaseTimes();

/** "run 3.1ms, snapshot 1.2ms" */
export function describePhases(p: Record<string, number>): string {
  return Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(1)}ms`).join(", ");
}
