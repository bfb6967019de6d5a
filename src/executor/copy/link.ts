// COPY/ADD --link (BuildKit, dockerfile 1.4): the files are copied into an empty directory and the
// layer is that directory's tar, so it depends on the sources alone and not on the layers below
// (no destination is resolved through their symlinks; a destination that is a directory below
// must end in "/"). The stage's rootfs then gets the layer applied like any image layer, so later
// steps see what a puller of the image sees. Docs: docs.docker.com/reference/dockerfile/#copy---link
import fs from "node:fs";
import path from "node:path";
import { applyLayer } from "../../fs/unpack.ts";
import { decompress } from "../../fs/compression.ts";
import { cleanArchivePath } from "../../fs/resolve.ts";
import type { Layer } from "../../image/index.ts";
import { readTar } from "../../tar/reader.ts";
import { createSnapshotter, type WrittenLayer } from "../../fs/snapshot.ts";
import type { Compression } from "../../fs/compression.ts";
import { copyInto } from "./copy.ts";
import type { CopySpec } from "./types.ts";

export interface LinkOptions {
  /** An empty directory the build owns (removed afterwards). */
  dir: string;
  /** Where the layer file goes. */
  layersDir: string;
  compression: Compression;
  level?: number;
  reproducible?: { epoch: number };
}

export interface LinkedCopy {
  layer: WrittenLayer;
  /**
   * Rootfs-absolute paths the layer replaced or created in the rootfs (a directory that was there
   * only for its children): the stage snapshotter re-reads them so no later layer repeats them.
   */
  touched: string[];
}

/** Copy spec.sources as --link does into spec.rootfs; null when nothing was copied. */
export async function copyLinked(spec: CopySpec, o: LinkOptions): Promise<LinkedCopy | null> {
  try {
    const snap = createSnapshotter({ rootfs: o.dir, strategy: "walk", ignore: [], compression: o.compression, level: o.level, reproducible: o.reproducible });
    await snap.init();
    const result = await copyInto({ ...spec, rootfs: o.dir });
    if (result.paths.length === 0) return null;
    const layer = await snap.snapshotPaths(result.paths, o.layersDir);
    await snap.close();
    const touched: string[] = [];
    collectTouched(o.dir, spec.rootfs, "", touched);
    await applyLayer(spec.rootfs, fs.createReadStream(layer.path), { mediaType: layer.mediaType, source: layer.digest });
    return { layer, touched };
  } finally {
    fs.rmSync(o.dir, { recursive: true, force: true });
  }
}

/**
 * The entries of the link directory, descending only into directories that the rootfs already
 * has as real directories (their contents below stay as they are: re-reading /usr for one new
 * file in /usr/local/bin would cost a walk of /usr).
 */
function collectTouched(linkDir: string, rootfs: string, rel: string, out: string[]): void {
  for (const name of fs.readdirSync(path.join(linkDir, rel))) {
    const r = rel === "" ? name : rel + "/" + name;
    const mine = fs.lstatSync(path.join(linkDir, r));
    let there: fs.Stats | undefined;
    try {
      there = fs.lstatSync(path.join(rootfs, r));
    } catch {
      there = undefined;
    }
    if (mine.isDirectory() && there?.isDirectory()) collectTouched(linkDir, rootfs, r, out);
    else out.push("/" + r);
  }
}

/**
 * A cached --link layer reused after a miss (the rootfs is already there): apply it as it is and
 * return what it touched (as LinkedCopy.touched), so the layer's bytes are exactly the cached ones.
 */
export async function applyLinkedLayer(rootfs: string, layer: Layer): Promise<string[]> {
  const entries = new Map<string, boolean>(); // name -> is a directory
  for await (const { header } of readTar(decompress(await layer.open(), layer.digest))) {
    const name = cleanArchivePath(header.name);
    if (name !== "") entries.set(name, header.type === "dir");
  }
  const isRealDir = (rel: string) => {
    try {
      return fs.lstatSync(path.join(rootfs, rel)).isDirectory();
    } catch {
      return false;
    }
  };
  const touched = new Set<string>();
  for (const [name, dir] of entries) {
    const parts = name.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      const real = isRealDir(rel);
      if (i < parts.length ? real : real && dir) continue; // only real directories are descended
      touched.add(rel);
      break;
    }
  }
  await applyLayer(rootfs, await layer.open(), { mediaType: layer.mediaType, source: layer.digest });
  const under = (t: string) => t.split("/").some((_, i, a) => i > 0 && touched.has(a.slice(0, i).join("/")));
  return [...touched].filter((t) => !under(t)).map((t) => "/" + t);
}
