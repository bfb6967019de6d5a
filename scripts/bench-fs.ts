// Rootfs benchmarks, printed as ratios against GNU tar and umoci in one run:
//   bun scripts/bench-fs.ts [--runs=N] [--fat-runs=N] [--layers=busybox,debian,fat] [--no-snapshot]
//   (or: deno run -A scripts/bench-fs.ts)
// 1. unpack of the busybox layer, the Debian layer and the fat base's 50,000-file layer
//    (scripts/bench/unpack-layers.ts), on tmpfs and on the workspace disk: kiln's applyLayer vs
//    `tar -xzpf` vs `umoci raw unpack`, median of N fresh directories each (default 10; the fat
//    layer 3, which keeps `bench.ts --micro` within its time limit), and
//    kiln's first unpack in a fresh process (a build unpacks its base once per process).
//    Targets (issue 19): kiln ≤ 1.0× GNU tar on each layer; busybox unpack ≤ 20 ms.
// 2. walk snapshot after a one-file change in a 50,000-file rootfs (plus init and overlay)
import fs from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import { applyLayer } from "../src/fs/unpack.ts";
import { createSnapshotter } from "../src/fs/snapshot.ts";
import { benchLayers, type BenchLayer } from "./bench/unpack-layers.ts";
import { MICRO_TARGETS, target, targetLine } from "./bench/targets.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

// Child mode: one applyLayer in this fresh process, its time printed (the first-call cost).
if (args[0] === "--first-unpack") {
  const [, file, mediaType, dir] = args;
  const t = performance.now();
  await applyLayer(dir!, fs.createReadStream(file!, { highWaterMark: 1 << 20 }), { mediaType: mediaType! });
  console.log((performance.now() - t).toFixed(3));
  process.exit(0);
}

const runs = Number(flag("runs") ?? 10);
const runsOf = (layer: string) => (layer === "fat" ? Number(flag("fat-runs") ?? Math.min(runs, 3)) : runs);
const which = (flag("layers") ?? "busybox,debian,fat").split(",");
const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-bench-fs-`);
const shm = fs.existsSync("/dev/shm") ? fs.mkdtempSync("/dev/shm/kiln-bench-fs-") : undefined;
// Removed however the run ends (a failed tool, Ctrl-C).
const cleanup = () => {
  fs.rmSync(work, { recursive: true, force: true });
  if (shm) fs.rmSync(shm, { recursive: true, force: true });
};
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));
const ms = (t: number) => `${t.toFixed(t < 100 ? 1 : 0).padStart(6)} ms`;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error}`);
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// This runtime again, for the first-call child.
function selfCommand(): string[] {
  const script = new URL(import.meta.url).pathname;
  return "Bun" in globalThis ? [process.execPath, script] : [process.execPath, "run", "-A", script];
}

function firstUnpack(l: BenchLayer, dir: string): number {
  const [cmd, ...pre] = selfCommand();
  const r = spawnSync(cmd!, [...pre, "--first-unpack", l.file, l.mediaType, dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`first-unpack child: ${r.stderr}`);
  return Number(r.stdout.trim().split("\n").at(-1));
}

interface Row {
  layer: string;
  place: string;
  tar: number;
  umoci: number;
  kiln: number;
  first: number;
}

// The tools take turns, each into a fresh directory removed right after it (the order rotates per
// round, so the cost a removal leaves behind on ext4 falls on each tool alike).
async function unpackRow(l: BenchLayer, place: string, base: string): Promise<Row> {
  const t: Record<string, number[]> = { tar: [], umoci: [], kiln: [], first: [] };
  const tools: [string, (d: string) => unknown][] = [
    ["tar", (d) => sh("tar", ["-xzpf", l.file, "-C", d])],
    ["umoci", (d) => sh("umoci", ["raw", "unpack", "--image", `${l.layout}:latest`, `${d}/rootfs`])],
    ["kiln", (d) => applyLayer(d, fs.createReadStream(l.file, { highWaterMark: 1 << 20 }), { mediaType: l.mediaType })],
    ["first", (d) => t.first!.push(firstUnpack(l, d))],
  ];
  for (let i = 0; i < runsOf(l.name); i++) {
    for (let k = 0; k < tools.length; k++) {
      const [name, fn] = tools[(i + k) % tools.length]!;
      const d = fs.mkdtempSync(`${base}/${l.name}-${name}-`);
      const took = await time(() => fn(d));
      if (name !== "first") t[name]!.push(took);
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
  return { layer: l.name, place, tar: median(t.tar!), umoci: median(t.umoci!), kiln: median(t.kiln!), first: median(t.first!) };
}

console.log(`runtime: ${"Bun" in globalThis ? "bun" : "deno"}, ${os.cpus().length} cpus, median of ${runs} (fat layer: ${runsOf("fat")})`);
const layers = await benchLayers(work, which);
const places: [string, string][] = [["disk", work]];
if (shm) places.push(["tmpfs", shm]);
const rows: Row[] = [];
for (const l of layers) {
  for (const [place, base] of places) {
    const r = await unpackRow(l, place, base);
    rows.push(r);
    console.log(
      `unpack ${`${l.name} ${place}`.padEnd(14)} GNU tar ${ms(r.tar)}  umoci ${ms(r.umoci)}  kiln ${ms(r.kiln)} (first in a process ${ms(r.first)})` +
        `  kiln/tar ${(r.kiln / r.tar).toFixed(2)}  kiln/umoci ${(r.kiln / r.umoci).toFixed(2)}`,
    );
  }
}
// In the one line format bench.ts --micro collects (scripts/bench/targets.ts). A build unpacks
// its base in the workspace (disk), once per process: the busybox target is the disk row's first.
console.log("targets:");
for (const r of rows) console.log(`  ${targetLine(target(`unpack-${r.layer}-${r.place}-vs-gnu-tar`, r.kiln / r.tar, 1, "x"))}`);
const busyboxDisk = rows.find((r) => r.layer === "busybox" && r.place === "disk");
if (busyboxDisk) {
  console.log(`  ${targetLine(target("busybox-unpack", busyboxDisk.kiln, MICRO_TARGETS["busybox-unpack"].limit, "ms"))}`);
  console.log(`  ${targetLine(target("busybox-unpack-first-in-process", busyboxDisk.first, MICRO_TARGETS["busybox-unpack"].limit, "ms"))}`);
}

function makeTree(root: string, files: number): void {
  const perDir = 100;
  for (let i = 0; i < files; i++) {
    const dir = `${root}/d${Math.floor(i / perDir / 20)}/e${Math.floor(i / perDir)}`;
    if (i % perDir === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${dir}/f${i}`, `file ${i}\n`.repeat(1 + (i % 40)));
  }
}

const src = `${work}/src50k`;
if (!args.includes("--no-snapshot")) makeTree(src, 50_000);
for (const strategy of args.includes("--no-snapshot") ? [] : (["walk", "overlay"] as const)) {
  const s = createSnapshotter({ rootfs: src, strategy, ignore: [], compression: "gzip", stateDir: `${work}/state-${strategy}`, onNotice: (m) => console.log(`  (${m})`) });
  const initT = await time(() => s.init());
  fs.appendFileSync(`${src}/d7/e150/f15000`, "changed\n");
  let entries = 0;
  const snapT = await time(async () => (entries = (await s.snapshot(`${work}/out`))?.entries ?? 0));
  const noopT = await time(() => s.snapshot(`${work}/out`));
  await s.close();
  console.log(`snapshot ${s.strategy.padEnd(8)} 50,000 files: init ${ms(initT)}  one-file change ${ms(snapT)} (${entries} entries)  no change ${ms(noopT)}`);
}
cleanup();
