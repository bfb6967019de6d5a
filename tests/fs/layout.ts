// Reading an OCI image layout's layers for tests (index.json → manifest → layer blobs).
import fs from "node:fs";
import type { ImageIndex, ImageManifest } from "../../src/image/types.ts";

export interface LayoutLayer {
  digest: string;
  mediaType: string;
  path: string;
}

export function layoutLayers(dir: string, tag = "latest"): LayoutLayer[] {
  const blob = (d: string) => `${dir}/blobs/${d.replace(":", "/")}`;
  const index: ImageIndex = JSON.parse(fs.readFileSync(`${dir}/index.json`, "utf8"));
  const desc = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!desc) throw new Error(`${dir}: no manifest tagged ${tag}`);
  const manifest: Partial<ImageManifest> = JSON.parse(fs.readFileSync(blob(desc.digest), "utf8"));
  if (!manifest.layers) throw new Error(`${dir}:${tag} is not an image manifest`);
  return manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, path: blob(l.digest) }));
}
