// `docker save`-format tarballs (what `docker load` and `skopeo … docker-archive:` read):
// manifest.json + the config + one file per layer. Layers stay compressed as pushed;
// docker load and skopeo both detect the compression.
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { once } from "node:events";
import { KilnError } from "../util/errors.ts";
import { digestHex } from "./digest.ts";
import type { Image } from "./image.ts";
import { isForeignLayer, layerCompression } from "./media-types.ts";
import { parseReference } from "./reference.ts";
import { END_OF_ARCHIVE, fileHeader, padding } from "./tar-stream.ts";

const enc = new TextEncoder();

/** Write `img` as a docker-archive tarball tagged with `refTags` (e.g. ["registry/app:1"]). */
export async function writeDockerArchive(img: Image, file: string, refTags: readonly string[] = []): Promise<void> {
  await writeDockerArchiveImages([{ img, refTags }], file);
}

/**
 * Several images in one docker-archive tarball (`docker save a b` writes the same): one
 * manifest.json entry each, a blob shared by two images stored once. A multi-platform build's
 * --tar-path holds one per platform, each under its own tags.
 */
export async function writeDockerArchiveImages(images: readonly { img: Image; refTags: readonly string[] }[], file: string): Promise<void> {
  const blobName = (l: Image["layers"][number]) => `${digestHex(l.digest)}${{ gzip: ".tar.gz", zstd: ".tar.zst", none: ".tar" }[layerCompression(l.mediaType)]}`;
  const manifest = images.map(({ img, refTags }) => {
    if (img.layers.some((l) => isForeignLayer(l.mediaType))) throw new KilnError(`${file}: images with foreign layers cannot be saved as a docker archive`);
    const tags = refTags.map((t) => {
      const r = parseReference(t);
      if (!r.tag) throw new KilnError(`--tar-path: "${t}" needs a tag to name the image in the archive`);
      return r.withTag(r.tag).familiar();
    });
    return { Config: `${digestHex(img.configDigest)}.json`, RepoTags: tags, Layers: img.layers.map(blobName) };
  });
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  const write = async (b: Uint8Array) => {
    if (!out.write(b)) await once(out, "drain");
  };
  const writeFile = async (name: string, bytes: Uint8Array) => {
    await write(fileHeader(name, bytes.length));
    await write(bytes);
    await write(padding(bytes.length));
  };
  try {
    const seen = new Set<string>();
    for (const [n, { img }] of images.entries()) {
      const configName = manifest[n]!.Config;
      if (!seen.has(configName)) await writeFile(configName, img.configBytes);
      seen.add(configName);
      for (const l of img.layers) {
        const name = blobName(l);
        if (seen.has(name)) continue; // the same blob twice is stored once
        seen.add(name);
        await write(fileHeader(name, l.size));
        for await (const chunk of await l.open()) await write(chunk);
        await write(padding(l.size));
      }
    }
    await writeFile("manifest.json", enc.encode(JSON.stringify(manifest)));
    await write(END_OF_ARCHIVE);
    out.end();
    await once(out, "finish");
    renameSync(tmp, file);
  } catch (e) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw e;
  }
}
