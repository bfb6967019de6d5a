// The layers the unpack benchmark (scripts/bench-fs.ts) extracts, each wrapped in a one-layer OCI
// layout so umoci can unpack exactly that layer: the busybox and Debian base layers (.cache/base),
// and the fat base's 50,000-file layer. That layer is the one scripts/bench/fat-base.ts builds with
// kiln when .cache/bench holds it; otherwise the same recipe (50 dirs × 1,000 files of 5,369 bytes
// of hex) is packed with GNU tar once and kept in .cache/bench/fat-layer-v1.tar.gz.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { ensureBaseLayouts, REPO_ROOT } from "../base-images.ts";
import { hostPlatform, imageConfig, LayoutWriter, REF_NAME } from "../lib/oci-layout.ts";
import { describeGzLayer } from "../lib/deterministic-tar.ts";
import type { ImageIndex, ImageManifest } from "../../src/image/types.ts";

export interface BenchLayer {
  name: string;
  /** The gzipped layer blob. */
  file: string;
  mediaType: string;
  /** A one-layer OCI layout holding it, tagged "latest" (for `umoci raw unpack`). */
  layout: string;
}

const BENCH_CACHE = join(REPO_ROOT, ".cache", "bench");

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(" ")}: ${r.stderr || r.error}`);
}

function topLayer(layout: string): { file: string; mediaType: string } {
  const blob = (d: string) => join(layout, "blobs", d.replace(":", "/"));
  const idx: ImageIndex = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const desc = idx.manifests.find((m) => m.annotations?.[REF_NAME] === "latest") ?? idx.manifests[0];
  if (!desc) throw new Error(`${layout}: empty index`);
  const m: ImageManifest = JSON.parse(readFileSync(blob(desc.digest), "utf8"));
  const l = m.layers.at(-1);
  if (!l) throw new Error(`${layout}: no layers`);
  return { file: blob(l.digest), mediaType: l.mediaType };
}

// The fat base built by kiln (scripts/bench/fat-base.ts), else the same recipe packed with GNU tar.
function fatLayer(work: string): { file: string; mediaType: string } {
  const built = existsSync(BENCH_CACHE) ? readdirSync(BENCH_CACHE).find((n) => n.startsWith("fat-base-")) : undefined;
  if (built) return topLayer(join(BENCH_CACHE, built));
  const file = join(BENCH_CACHE, "fat-layer-v1.tar.gz");
  if (!existsSync(file)) {
    console.log("(building the 50,000-file fat layer once, into .cache/bench)");
    mkdirSync(BENCH_CACHE, { recursive: true });
    const src = mkdtempSync(join(work, "fat-src-"));
    const recipe = `head -c 134200000 /dev/urandom | xxd -p -c 2684 | awk '{ if ((NR - 1) % 1000 == 0) { d = "fat/d" int((NR - 1) / 1000); system("mkdir -p " d) } f = d "/f" NR; print > f; close(f) }'`;
    const r = spawnSync("sh", ["-c", recipe], { cwd: src, stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) throw new Error("building the fat layer failed (needs xxd and awk)");
    sh("tar", ["--format=pax", "--sort=name", "--numeric-owner", "--owner=0", "--group=0", "-czf", `${file}.tmp`, "-C", src, "fat"]);
    renameSync(`${file}.tmp`, file);
    rmSync(src, { recursive: true, force: true });
  }
  return { file, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" };
}

async function wrap(name: string, l: { file: string; mediaType: string }, work: string): Promise<BenchLayer> {
  const w = new LayoutWriter(join(work, `layout-${name}`));
  const packed = await describeGzLayer(l.file);
  const layer = w.layerBlob(l.file, packed);
  const config = imageConfig({ platform: hostPlatform(), env: [], cmd: [], diffIds: [packed.diffId], created: "2024-01-01T00:00:00Z", createdBy: "bench" });
  const m = w.image({ config, layers: [layer] });
  w.finish([{ ...m, annotations: { [REF_NAME]: "latest" } }]);
  return { name, file: w.blobPath(packed.digest), mediaType: l.mediaType, layout: w.dir };
}

/** The three layers, each copied into a one-layer layout under `work`. */
export async function benchLayers(work: string, which: readonly string[] = ["busybox", "debian", "fat"]): Promise<BenchLayer[]> {
  const base = await ensureBaseLayouts({ debian: which.includes("debian") });
  const out: BenchLayer[] = [];
  for (const name of which) {
    if (name === "busybox") out.push(await wrap(name, topLayer(base.busybox), work));
    else if (name === "debian") out.push(await wrap(name, topLayer(base.debian!), work));
    else if (name === "fat") out.push(await wrap(name, fatLayer(work), work));
    else throw new Error(`unknown bench layer ${name} (busybox, debian, fat)`);
  }
  return out;
}
