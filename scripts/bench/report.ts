// Medians per (bench, scenario, builder), kiln ÷ buildah ratios, the targets and the table.
import type { RunResult } from "./builders.ts";
import type { Sample, Scenario } from "./suite.ts";
import { COLD_WALL_LIMITS, target, verdict, type Target } from "./targets.ts";

export { verdict, type Target };

export interface Stats {
  trials: number;
  wall: number;
  cpu: number;
  rssMB: number;
  hits: number;
  steps: number;
  readMB: number;
  writtenMB: number;
  layersReadMB: number;
  layersWrittenMB: number;
  unpackS?: number;
  stepS?: number;
}

export interface Row {
  bench: string;
  scenario: Scenario;
  kiln?: Stats;
  buildah?: Stats;
  /** kiln ÷ buildah of the median wall time (and CPU time). */
  ratio?: number;
  cpuRatio?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const MB = 1024 * 1024;

function stats(rs: RunResult[]): Stats {
  const med = (f: (r: RunResult) => number) => median(rs.map(f));
  const s: Stats = {
    trials: rs.length,
    wall: med((r) => r.wall),
    cpu: med((r) => r.cpu),
    rssMB: med((r) => r.rssMB),
    hits: med((r) => r.hits),
    steps: med((r) => r.steps),
    readMB: med((r) => r.traffic.read / MB),
    writtenMB: med((r) => r.traffic.written / MB),
    layersReadMB: med((r) => r.traffic.layersRead / MB),
    layersWrittenMB: med((r) => r.traffic.layersWritten / MB),
  };
  if (rs.every((r) => r.unpackS !== undefined)) s.unpackS = med((r) => r.unpackS!);
  if (rs.every((r) => r.stepS !== undefined)) s.stepS = med((r) => r.stepS!);
  return s;
}

export function summarise(samples: Sample[]): Row[] {
  const rows: Row[] = [];
  const keys = [...new Set(samples.map((s) => `${s.bench}\0${s.scenario}`))];
  for (const k of keys) {
    const [bench, scenario] = k.split("\0") as [string, Scenario];
    const of = (b: string) => samples.filter((s) => s.bench === bench && s.scenario === scenario && s.builder === b).map((s) => s.result);
    const row: Row = { bench, scenario };
    if (of("kiln").length) row.kiln = stats(of("kiln"));
    if (of("buildah").length) row.buildah = stats(of("buildah"));
    if (row.kiln && row.buildah) {
      row.ratio = row.kiln.wall / row.buildah.wall;
      row.cpuRatio = row.kiln.cpu / row.buildah.cpu;
    }
    rows.push(row);
  }
  return rows;
}

/** The targets, from the rows of this run (a target whose rows were not run is "not measured"). */
export function targets(rows: Row[], samples: Sample[]): Target[] {
  const find = (b: string, s: Scenario) => rows.find((r) => r.bench === b && r.scenario === s);
  const benches = [...new Set(rows.map((r) => r.bench))];
  const out: Target[] = [];
  const limits: [Scenario, number][] = [["warm-remote", 0.2], ["cold", 0.8], ["changed", 0.8], ["nocache", 1.0]];
  for (const [scn, limit] of limits) for (const b of benches) if (find(b, scn)) out.push(target(`${b} ${scn} kiln/buildah`, find(b, scn)?.ratio, limit, "x"));
  const bigWarm = find("big", "warm-remote")?.kiln;
  if (bigWarm) {
    out.push(target("big warm-remote kiln wall", bigWarm.wall, 0.5, "s"));
    out.push(target("big warm-remote kiln layer MB moved", bigWarm.layersReadMB + bigWarm.layersWrittenMB, 0, "MB"));
  }
  // Issue 19: absolute wall times of a cold build, where per-step overhead is most of the time.
  for (const [b, limit] of Object.entries(COLD_WALL_LIMITS)) {
    const cold = find(b, "cold")?.kiln;
    if (cold) out.push(target(`${b} cold kiln wall`, cold.wall, limit, "s"));
  }
  const fat = find("fat-base", "cold")?.kiln;
  if (fat) out.push(target("fat-base cold kiln unpack+snapshot overhead", fat.stepS, 3, "s", `unpack ${fat.unpackS?.toFixed(2)}s of it; the three RUNs themselves take milliseconds`));
  const bigRss = samples.filter((s) => s.bench === "big" && s.builder === "kiln").map((s) => s.result.rssMB);
  if (bigRss.length) out.push(target("big kiln peak RSS (max of all runs)", Math.max(...bigRss), 200, "MB"));
  return out;
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

export function table(rows: Row[]): string {
  const head = ["bench", "scenario", "kiln s", "buildah s", "k/b", "kiln cpu", "bah cpu", "cpu k/b", "kiln MB", "bah MB", "kiln hits", "bah hits", "kiln MB ↓/↑", "bah MB ↓/↑"];
  const cell = (s: Stats | undefined, f: (s: Stats) => string) => (s ? f(s) : "-");
  const lines = rows.map((r) => [
    r.bench,
    r.scenario,
    cell(r.kiln, (s) => s.wall.toFixed(2)),
    cell(r.buildah, (s) => s.wall.toFixed(2)),
    r.ratio === undefined ? "-" : r.ratio.toFixed(2),
    cell(r.kiln, (s) => s.cpu.toFixed(2)),
    cell(r.buildah, (s) => s.cpu.toFixed(2)),
    r.cpuRatio === undefined ? "-" : r.cpuRatio.toFixed(2),
    cell(r.kiln, (s) => s.rssMB.toFixed(0)),
    cell(r.buildah, (s) => s.rssMB.toFixed(0)),
    cell(r.kiln, (s) => `${s.hits}/${s.steps}`),
    cell(r.buildah, (s) => `${s.hits}/${s.steps}`),
    cell(r.kiln, (s) => `${fmt(s.readMB)}/${fmt(s.writtenMB)}`),
    cell(r.buildah, (s) => `${fmt(s.readMB)}/${fmt(s.writtenMB)}`),
  ]);
  const all = [head, ...lines];
  const w = head.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  const line = (l: string[]) => "| " + l.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(" | ") + " |";
  return [line(head), "|" + w.map((n, i) => (i < 2 ? "-".repeat(n + 2) : "-".repeat(n + 1) + ":")).join("|") + "|", ...lines.map(line)].join("\n");
}
