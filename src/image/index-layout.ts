// A multi-platform image in an OCI image layout: each child's blobs and manifest, then the index
// blob, tagged in index.json (the children get no index.json entry of their own). Goes through
// the one locked layout writer, so it may share a layout with other writers.
import { descriptor } from "./image.ts";
import { makeIndex, type BuiltIndex } from "./index-manifest.ts";
import { OciLayoutWriter } from "./layout-writer.ts";
import type { WriteLayoutOptions } from "./layout.ts";
import type { Descriptor } from "./types.ts";

/**
 * Write `idx` into the layout at `dir` (created or added to). A Docker manifest list becomes an
 * OCI index of OCI manifests (what skopeo and umoci read) unless `keepDockerFormat`, as
 * writeOciLayout does for one image. Returns the index descriptor.
 */
export async function writeOciLayoutIndex(idx: BuiltIndex, dir: string, tag?: string, opts: WriteLayoutOptions = {}): Promise<Descriptor> {
  if (idx.format === "docker" && !opts.keepDockerFormat) idx = makeIndex(idx.images, "oci", { annotations: idx.index.annotations });
  const w = new OciLayoutWriter(dir).init();
  for (const img of idx.images) await w.putImage(img);
  w.putBytes(idx.bytes, idx.digest);
  return await w.addManifest(descriptor({ mediaType: idx.mediaType, digest: idx.digest, size: idx.bytes.length }), tag);
}
