// Rootfs benchmarks, printed as ratios against GNU tar in one run:
//   bun scripts/bench-fs.ts        (or: deno run -A scripts/bench-fs.ts)
// 1. unpack the debian base layer: applyLayer vs `tar -xzf`
// 2. unpack a synthetic 50,000-file layer: applyLayer vs `tar -xzf`
// 3. walk snapshot after a one-file change in that 50,000-file rootfs (plus init and overlay)
import fs from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import { applyLayer } from "../src/fs/unpack.ts";
import { createSnapshotter } from "../src/fs/snapshot.ts";
import { ensureBaseLayouts } from "./base-images.ts";
import type { ImageIndex, ImageManifest } from "../src/image/types.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-bench-fs-`);
const ms = (t: number) => `${t.toFixed(0).padStart(6)} ms`;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error}`);
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

// GNU tar and kiln alternate, each into a fresh directory; best of 3. Directories are removed
// only afterwards: on this VM's ext4 (mounted with discard) deleting 50,000 files slows the
// next few seconds of file creation, which would penalise whoever runs next.
async function unpackVsTar(name: string, layer: string, mediaType: string, base = work): Promise<void> {
  let tarT = Infinity;
  let kilnT = Infinity;
  const dirs: string[] = [];
  for (let i = 0; i < 3; i++) {
    const a = `${base}/${name}-tar-${i}`;
    const b = `${base}/${name}-kiln-${i}`;
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    dirs.push(a, b);
    tarT = Math.min(tarT, await time(() => sh("tar", ["-xzpf", layer, "-C", a])));
    kilnT = Math.min(kilnT, await time(() => applyLayer(b, fs.createReadStream(layer, { highWaterMark: 1 << 20 }), { mediaType })));
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  console.log(`unpack ${name.padEnd(14)} GNU tar ${ms(tarT)}  kiln ${ms(kilnT)}  kiln/tar = ${(kilnT / tarT).toFixed(2)}`);
}

function makeTree(root: string, files: number): void {
  const perDir = 100;
  for (let i = 0; i < files; i++) {
    const dir = `${root}/d${Math.floor(i / perDir / 20)}/e${Math.floor(i / perDir)}`;
    if (i % perDir === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${dir}/f${i}`, `file ${i}\n`.repeat(1 + (i % 40)));
  }
}

const layouts = await ensureBaseLayouts({ debian: true });
const idx: ImageIndex = JSON.parse(fs.readFileSync(`${layouts.debian}/index.json`, "utf8"));
const desc = idx.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "latest");
if (!desc) throw new Error(`${layouts.debian}: no manifest tagged latest`);
const manifest: ImageManifest = JSON.parse(fs.readFileSync(`${layouts.debian}/blobs/${desc.digest.replace(":", "/")}`, "utf8"));
const debLayer = manifest.layers[0]!;
console.log(`runtime: ${"Bun" in globalThis ? "bun" : "deno"}, ${os.cpus().length} cpus`);
await unpackVsTar("debian", `${layouts.debian}/blobs/${debLayer.digest.replace(":", "/")}`, debLayer.mediaType);

const src = `${work}/src50k`;
makeTree(src, 50_000);
const layer50k = `${work}/50k.tar.gz`;
sh("tar", ["-czf", layer50k, "-C", src, "."]);
await unpackVsTar("50,000 files", layer50k, "application/vnd.oci.image.layer.v1.tar+gzip");
// The same on tmpfs: no disk noise, so this row shows the CPU cost per entry.
if (fs.existsSync("/dev/shm")) {
  const shm = fs.mkdtempSync("/dev/shm/kiln-bench-fs-");
  await unpackVsTar("debian tmpfs", `${layouts.debian}/blobs/${debLayer.digest.replace(":", "/")}`, debLayer.mediaType, shm);
  await unpackVsTar("50k tmpfs", layer50k, "application/vnd.oci.image.layer.v1.tar+gzip", shm);
  fs.rmSync(shm, { recursive: true, force: true });
}

for (const strategy of ["walk", "overlay"] as const) {
  const s = createSnapshotter({ rootfs: src, strategy, ignore: [], compression: "gzip", stateDir: `${work}/state-${strategy}`, onNotice: (m) => console.log(`  (${m})`) });
  const initT = await time(() => s.init());
  fs.appendFileSync(`${src}/d7/e150/f15000`, "changed\n");
  let entries = 0;
  const snapT = await time(async () => (entries = (await s.snapshot(`${work}/out`))?.entries ?? 0));
  const noopT = await time(() => s.snapshot(`${work}/out`));
  await s.close();
  console.log(`snapshot ${s.strategy.padEnd(8)} 50,000 files: init ${ms(initT)}  one-file change ${ms(snapT)} (${entries} entries)  no change ${ms(noopT)}`);
}
fs.rmSync(work, { recursive: true, force: true });
