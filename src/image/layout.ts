// OCI image layout directories (image-spec layout.md): oci-layout, index.json, blobs/<alg>/<hex>.
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { digestAlgorithm, digestHex, sha256 } from "./digest.ts";
import { descriptor, makeImage, parseImageConfig, parseImageManifest, pushableLayers, type Image } from "./image.ts";
import { layerFromFile } from "./layer.ts";
import { formatOf, isImageManifest, isIndex, OCI_INDEX } from "./media-types.ts";
import { withFormat } from "./mutate.ts";
import { hostPlatform, selectManifest } from "./platform.ts";
import type { Descriptor, ImageIndex, Platform } from "./types.ts";

export const REF_NAME = "org.opencontainers.image.ref.name";

export function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", digestAlgorithm(digest), digestHex(digest));
}

function readIndex(dir: string): ImageIndex {
  const file = join(dir, "index.json");
  if (!existsSync(file)) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ImageIndex;
  } catch {
    throw new KilnError(`${file}: not valid JSON`);
  }
}

async function writeBlobStream(dir: string, digest: string, size: number, open: () => Promise<AsyncIterable<Uint8Array>>): Promise<void> {
  const path = blobPath(dir, digest);
  if (existsSync(path) && statSync(path).size === size) return;
  mkdirSync(join(dir, "blobs", digestAlgorithm(digest)), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const out = createWriteStream(tmp);
  try {
    for await (const chunk of await open()) {
      if (!out.write(chunk)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    renameSync(tmp, path); // only complete, verified blobs get their final name
  } catch (e) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw e;
  }
}

function writeBlobBytes(dir: string, bytes: Uint8Array): string {
  const digest = sha256(bytes);
  const path = blobPath(dir, digest);
  if (!existsSync(path)) {
    mkdirSync(join(dir, "blobs", digestAlgorithm(digest)), { recursive: true });
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
  }
  return digest;
}

export interface WriteLayoutOptions {
  /** Keep a Docker v2s2 manifest as is (exact digest) instead of converting it to OCI. */
  keepDockerFormat?: boolean;
}

/**
 * Write an image into an OCI layout (creating it, or adding to an existing one). With a
 * tag, the index entry carries org.opencontainers.image.ref.name and replaces an older
 * entry of that tag. Returns the manifest descriptor.
 *
 * Docker v2s2 images are converted to OCI media types (as skopeo does): skopeo and umoci
 * only read OCI manifests from a layout. The config and layer bytes are unchanged; the
 * manifest digest changes. `keepDockerFormat` writes the v2s2 manifest byte for byte.
 */
export async function writeOciLayout(img: Image, dir: string, tag?: string, opts: WriteLayoutOptions = {}): Promise<Descriptor> {
  if (img.format === "docker" && !opts.keepDockerFormat) img = withFormat(img, "oci");
  mkdirSync(join(dir, "blobs"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const l of pushableLayers(img)) await writeBlobStream(dir, l.digest, l.size, () => l.open());
  writeBlobBytes(dir, img.configBytes);
  writeBlobBytes(dir, img.manifestBytes);
  const desc = descriptor({ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifestBytes.length, annotations: tag ? { [REF_NAME]: tag } : undefined });
  const index = readIndex(dir);
  index.schemaVersion = 2;
  index.mediaType ??= OCI_INDEX;
  index.manifests = (index.manifests ?? []).filter((d) => (tag ? d.annotations?.[REF_NAME] !== tag : !(d.digest === desc.digest && !d.annotations?.[REF_NAME])));
  index.manifests.push(desc);
  const file = join(dir, "index.json");
  writeFileSync(`${file}.tmp`, JSON.stringify(index));
  renameSync(`${file}.tmp`, file);
  return desc;
}

function readBlob(dir: string, d: Descriptor): Uint8Array {
  const path = blobPath(dir, d.digest);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new KilnError(`OCI layout ${dir}: blob ${d.digest} is missing`);
  }
  if (sha256(bytes) !== d.digest) throw new KilnError(`OCI layout ${dir}: blob ${d.digest} does not match its digest`);
  return bytes;
}

/**
 * Read an image from an OCI layout: the entry whose ref.name is `tag` (a full reference
 * in the annotation also matches by its tag), or the only entry when no tag is given.
 * An index entry is resolved to `platform` (default: the host's).
 */
export function readOciLayout(dir: string, tag?: string, platform: Platform = hostPlatform()): Image {
  if (!existsSync(join(dir, "index.json"))) throw new KilnError(`${dir}: not an OCI image layout (no index.json)`);
  const index = readIndex(dir);
  const entries = index.manifests ?? [];
  let d: Descriptor | undefined;
  if (tag) {
    d = entries.find((e) => e.annotations?.[REF_NAME] === tag) ?? entries.find((e) => e.annotations?.[REF_NAME]?.endsWith(`:${tag}`));
    if (!d) {
      const tags = entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean);
      throw new KilnError(`OCI layout ${dir}: no image tagged "${tag}" (has: ${tags.join(", ") || "no tags"})`);
    }
  } else if (entries.length === 1) {
    d = entries[0];
  } else {
    const tags = entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean);
    throw new KilnError(`OCI layout ${dir}: holds ${entries.length} images; name one with :TAG (tags: ${tags.join(", ") || "none"})`);
  }
  for (let depth = 0; d && isIndex(d.mediaType); depth++) {
    if (depth > 4) throw new KilnError(`OCI layout ${dir}: indexes nested too deep`);
    const child = JSON.parse(new TextDecoder().decode(readBlob(dir, d))) as ImageIndex;
    d = selectManifest(child.manifests ?? [], platform, `OCI layout ${dir}`);
  }
  if (!d || !isImageManifest(d.mediaType)) throw new KilnError(`OCI layout ${dir}: unsupported manifest type ${d?.mediaType}`);
  const where = `OCI layout ${dir} manifest ${d.digest}`;
  const manifestBytes = readBlob(dir, d);
  const manifest = parseImageManifest(manifestBytes, where);
  const configBytes = readBlob(dir, manifest.config);
  const config = parseImageConfig(configBytes, where);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) throw new KilnError(`${where}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  const layers = manifest.layers.map((l, i) =>
    layerFromFile({ path: blobPath(dir, l.digest), mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i]!, annotations: l.annotations }),
  );
  return makeImage({ format: formatOf(d.mediaType), config, configBytes, layers, manifestBytes });
}

/**
 * Split "DIR[:TAG]" (skopeo's oci: syntax; also oci-layout://DIR[:TAG] for FROM). A colon
 * is a tag separator only when what follows has no "/".
 */
export function parseLayoutLocation(s: string): { dir: string; tag?: string } {
  const body = s.replace(/^oci-layout:\/\//, "").replace(/^oci:/, "");
  const i = body.lastIndexOf(":");
  if (i > 0 && !body.slice(i + 1).includes("/")) return { dir: body.slice(0, i), tag: body.slice(i + 1) || undefined };
  return { dir: body };
}
