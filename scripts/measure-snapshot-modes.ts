// Quick measurement (not a test, not the bench): the cost of one snapshot after `touch /x` on the
// busybox and Debian base rootfs, walk vs overlay. Usage: bun scripts/measure-snapshot-modes.ts
import fs from "node:fs";
import os from "node:os";
import { execFileSync } from "node:child_process";
import { applyLayer } from "../src/fs/unpack.ts";
import { createSnapshotter } from "../src/fs/snapshot.ts";

const LAYOUTS = new URL("../.cache/base/layouts/", import.meta.url).pathname;
const ROUNDS = 20;

function layersOf(layout: string): { path: string; mediaType: string; digest: string }[] {
  const blob = (d: string) => `${layout}/blobs/${d.replace(":", "/")}`;
  const index = JSON.parse(fs.readFileSync(`${layout}/index.json`, "utf8"));
  const desc = index.manifests.find((m: { mediaType: string }) => m.mediaType.includes("manifest"));
  const manifest = JSON.parse(fs.readFileSync(blob(desc.digest), "utf8"));
  return manifest.layers.map((l: { digest: string; mediaType: string }) => ({ path: blob(l.digest), mediaType: l.mediaType, digest: l.digest }));
}

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-measure-snap-`);
try {
  for (const image of ["busybox", "debian"]) {
    for (const mode of ["walk", "overlay"] as const) {
      const root = `${work}/${image}-${mode}/root`;
      fs.mkdirSync(root, { recursive: true });
      for (const l of layersOf(`${LAYOUTS}/${image}`)) await applyLayer(root, fs.createReadStream(l.path), { mediaType: l.mediaType, source: l.digest });
      const files = execFileSync("find", [root], { encoding: "utf8" }).trim().split("\n").length;
      const snap = createSnapshotter({ rootfs: root, strategy: mode, ignore: ["/proc", "/sys", "/dev"], compression: "gzip", stateDir: `${work}/${image}-${mode}/state` });
      const t0 = performance.now();
      await snap.init();
      const init = performance.now() - t0;
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        fs.writeFileSync(`${root}/x`, String(i));
        const t = performance.now();
        const layer = await snap.snapshot(`${work}/out`);
        times.push(performance.now() - t);
        if (!layer) throw new Error("no layer");
      }
      await snap.close();
      times.sort((a, b) => a - b);
      console.log(`${image.padEnd(8)} ${String(files).padStart(6)} paths  ${mode.padEnd(8)} init ${init.toFixed(1).padStart(6)} ms  snapshot median ${times[ROUNDS >> 1]!.toFixed(2).padStart(6)} ms  min ${times[0]!.toFixed(2)} ms`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
