// A multi-platform image in an OCI image layout: each child's blobs and manifest, then the index
// blob, tagged in index.json (the children themselves get no index.json entry of their own).
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { descriptor } from "./image.ts";
import { makeIndex, type BuiltIndex } from "./index-manifest.ts";
import { blobPath, REF_NAME, writeOciLayout, type WriteLayoutOptions } from "./layout.ts";
import { OCI_INDEX } from "./media-types.ts";
import type { Descriptor, ImageIndex } from "./types.ts";

/**
 * Write `idx` into the layout at `dir` (created or added to). A Docker manifest list becomes an
 * OCI index of OCI manifests (what skopeo and umoci read) unless `keepDockerFormat`, as
 * writeOciLayout does for one image. Returns the index descriptor.
 */
export async function writeOciLayoutIndex(idx: BuiltIndex, dir: string, tag?: string, opts: WriteLayoutOptions = {}): Promise<Descriptor> {
  if (idx.format === "docker" && !opts.keepDockerFormat) idx = makeIndex(idx.images, "oci", { annotations: idx.index.annotations });
  const children = new Set(idx.images.map((i) => i.manifestDigest));
  for (const img of idx.images) await writeOciLayout(img, dir, undefined, { keepDockerFormat: true });
  const path = blobPath(dir, idx.digest);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp`, idx.bytes);
    renameSync(`${path}.tmp`, path);
  }
  const desc = descriptor({ mediaType: idx.mediaType, digest: idx.digest, size: idx.bytes.length, annotations: tag ? { [REF_NAME]: tag } : undefined });
  const file = join(dir, "index.json");
  let top: ImageIndex;
  try {
    top = JSON.parse(readFileSync(file, "utf8")) as ImageIndex;
  } catch {
    throw new KilnError(`${file}: not valid JSON`);
  }
  // writeOciLayout listed each child untagged; an index names them instead.
  top.manifests = (top.manifests ?? []).filter((d) => {
    const name = d.annotations?.[REF_NAME];
    if (!name) return !children.has(d.digest) && d.digest !== desc.digest;
    return name !== tag;
  });
  top.manifests.push(desc);
  top.schemaVersion = 2;
  top.mediaType ??= OCI_INDEX;
  writeFileSync(`${file}.tmp`, JSON.stringify(top));
  renameSync(`${file}.tmp`, file);
  return desc;
}
