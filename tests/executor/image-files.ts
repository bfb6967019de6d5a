// Read a pushed image's file tree through kiln's own registry client and tar reader
// (layers applied in order with whiteouts), for comparing builds file by file.
import { createHash } from "node:crypto";
import { decompress } from "../../src/fs/compression.ts";
import type { Layer } from "../../src/image/index.ts";
import { parseReference } from "../../src/image/reference.ts";
import { fetchImage, RegistryClient } from "../../src/registry/index.ts";
import { readTar } from "../../src/tar/reader.ts";

export interface FileInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  link?: string;
  mtime?: number;
}

export async function imageFiles(ref: string): Promise<{ files: Map<string, FileInfo>; content: Map<string, string>; digest: string; config: unknown; mediaTypes: string[] }> {
  const client = new RegistryClient({ insecureRegistries: ["*"] });
  const img = await fetchImage(client, parseReference(ref));
  const { files, content } = await layerFiles(img.layers);
  return { files, content, digest: img.manifestDigest, config: img.config.config, mediaTypes: img.layers.map((l) => l.mediaType) };
}

/** The file tree of layers applied in order; `mtime` adds each entry's mtime (for --reproducible comparisons). */
export async function layerFiles(layers: readonly Layer[], opts: { mtime?: boolean } = {}): Promise<{ files: Map<string, FileInfo>; content: Map<string, string> }> {
  const files = new Map<string, FileInfo>();
  const content = new Map<string, string>();
  for (const layer of layers) {
    for await (const { header: h, body } of readTar(decompress(await layer.open(), layer.digest))) {
      const name = h.name.replace(/^\.?\//, "").replace(/\/$/, "");
      const base = name.split("/").pop()!;
      const dir = name.slice(0, name.length - base.length);
      if (base === ".wh..wh..opq") {
        for (const k of [...files.keys()]) if (k.startsWith(dir) && k !== dir.replace(/\/$/, "")) files.delete(k);
        continue;
      }
      if (base.startsWith(".wh.")) {
        const gone = dir + base.slice(4);
        for (const k of [...files.keys()]) if (k === gone || k.startsWith(gone + "/")) files.delete(k);
        continue;
      }
      const info: FileInfo = { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid };
      if (opts.mtime) info.mtime = h.mtime;
      if (h.type === "file") {
        const hash = createHash("sha256");
        const chunks: Uint8Array[] = [];
        for await (const c of body) {
          hash.update(c);
          if (h.size < 4096) chunks.push(c);
        }
        info.sha256 = hash.digest("hex");
        if (h.size < 4096) content.set(name, Buffer.concat(chunks).toString("utf8"));
      }
      if (h.linkname) info.link = h.linkname;
      files.set(name, info);
    }
  }
  return { files, content };
}
