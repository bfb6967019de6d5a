// The speed targets (issues 9 and 19) in one place, and the one line format every benchmark
// prints them in, so `bench.ts` (full run) and `bench.ts --micro` list them the same way:
//   target <name> met|missed <value><unit> vs ≤ <limit><unit>
// A micro-benchmark prints such lines; micro.ts collects them from each one's output.

export interface Target {
  name: string;
  value: number | null;
  limit: number;
  unit: string;
  met: boolean | null;
  note: string;
}

/** Absolute targets of a cold build, kiln wall time with the compiled executable (issue 19). */
export const COLD_WALL_LIMITS: Record<string, number> = { small: 0.15, "many-steps": 0.3 };

/** The fixed costs `bench.ts --micro` measures (issue 19), by target name. */
export const MICRO_TARGETS = {
  "per-run-overhead": { limit: 5, unit: "ms", what: "RUN true: step start → snapshot done, minus the command's own time (scripts/bench-steps.ts)" },
  "one-file-copy": { limit: 5, unit: "ms", what: "COPY of one small file: step start → layer written (scripts/bench-steps.ts)" },
  "busybox-unpack": { limit: 20, unit: "ms", what: "unpack of the busybox layer (scripts/bench-fs.ts)" },
} as const;

export type MicroTargetName = keyof typeof MICRO_TARGETS;

export function target(name: string, value: number | undefined, limit: number, unit = "", note = ""): Target {
  if (value === undefined || Number.isNaN(value)) return { name, value: null, limit, unit, met: null, note: note || "not measured in this run" };
  return { name, value, limit, unit, met: value <= limit, note };
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The machine-readable line a micro-benchmark prints for a target. */
export function targetLine(t: Target): string {
  if (t.met === null) return `target ${t.name} n/a (${t.note})`;
  return `target ${t.name} ${t.met ? "met" : "missed"} ${fmt(t.value!)}${t.unit} vs ≤ ${fmt(t.limit)}${t.unit}`;
}

const LINE = /^\s*target (\S+) (met|missed) (-?[\d.]+)\s*([a-zA-Z%/]*) vs ≤ (-?[\d.]+)\s*([a-zA-Z%/]*)/;

/** Every target line in a benchmark's output. */
export function parseTargetLines(lines: readonly string[]): Target[] {
  const out: Target[] = [];
  for (const l of lines) {
    const m = LINE.exec(l);
    if (!m) continue;
    const value = Number(m[3]);
    const limit = Number(m[5]);
    out.push({ name: m[1]!, value, limit, unit: m[4] || m[6] || "", met: m[2] === "met", note: "" });
  }
  return out;
}

/** "met      3.10ms vs ≤ 5.00ms" or "MISSED by 24% (1.20ms over): …", for the tables. */
export function verdict(t: Target): string {
  if (t.met === null) return `n/a (${t.note})`;
  const v = `${fmt(t.value!)}${t.unit} vs ≤ ${fmt(t.limit)}${t.unit}`;
  if (t.met) return `met      ${v}`;
  const by = t.limit > 0 ? `${(((t.value! - t.limit) / t.limit) * 100).toFixed(0)}% (${fmt(t.value! - t.limit)}${t.unit} over)` : `${fmt(t.value!)}${t.unit}`;
  return `MISSED by ${by}: ${v}`;
}
