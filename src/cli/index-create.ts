// `kiln index create TARGET SRC…`: the fan-out step of a multi-platform build. Each CI job pushes
// one platform's image; this assembles their index from the manifests already in the registry.
// No layer is downloaded: blobs are mounted into TARGET's repository (or already there), each
// child manifest is put there by digest, and the index goes up last. Every source is read and
// checked before anything is written, so a bad source pushes nothing.
import { Command, Option } from "@commander-js/extra-typings";
import { KilnError, UsageError } from "../util/errors.ts";
import { makeIndex, platformOfConfig } from "../image/index-manifest.ts";
import { isImageManifest, isIndex, type ImageFormat } from "../image/media-types.ts";
import { formatPlatform } from "../image/platform.ts";
import { parseReference, type Reference } from "../image/reference.ts";
import type { Image } from "../image/image.ts";
import type { ImageIndex } from "../image/types.ts";
import { RegistryClient } from "../registry/client.ts";
import { RegistryError } from "../registry/errors.ts";
import { fetchImage } from "../registry/pull.ts";
import { pushIndex, type PushIndexResult } from "../registry/push-index.ts";
import type { RegistryOptions } from "../registry/transport.ts";
import { collect, registryOptionsOf, withRegistryOptions } from "./registry-options.ts";

export interface CreateIndexOptions extends RegistryOptions {
  /** oci (image index) or docker (manifest list); default docker when every source is Docker v2s2 (and no annotations), else oci. */
  format?: ImageFormat;
  /** Index annotations (OCI only). */
  annotations?: Record<string, string>;
  /** Called once per source with its platform, before anything is pushed. */
  onSource?: (src: Reference, platform: string, digest: string) => void;
}

/** Resolve every source, build the index, push it to `target`. */
export async function createIndex(target: string, sources: readonly string[], opts: CreateIndexOptions = {}): Promise<PushIndexResult> {
  const dest = parseRef(target, "TARGET");
  if (dest.digest) throw new UsageError(`TARGET ${target}: name the index with a tag, not a digest`);
  if (!sources.length) throw new UsageError("index create: give at least one SRC");
  const refs = sources.map((s) => parseRef(s, "SRC"));
  for (const r of refs) {
    if (r.registry !== dest.registry) {
      throw new UsageError(`SRC ${r}: on registry ${r.registry}, TARGET on ${dest.registry}; index create moves no layers between registries (kiln copy the image first)`);
    }
  }
  const client = new RegistryClient(opts);
  const images = await Promise.all(refs.map((r) => sourceImage(client, r)));
  const annotated = Object.keys(opts.annotations ?? {}).length > 0;
  const format = opts.format ?? (!annotated && images.every((i) => i.format === "docker") ? "docker" : "oci");
  const idx = makeIndex(images, format, { annotations: opts.annotations, labels: refs.map((r) => `SRC ${r}`) });
  refs.forEach((r, i) => opts.onSource?.(r, formatPlatform(platformOfConfig(images[i]!.config)), idx.images[i]!.manifestDigest));
  return pushIndex(client, idx, dest, { mountFrom: refs });
}

function parseRef(s: string, what: string): Reference {
  try {
    return parseReference(s);
  } catch (e) {
    throw new UsageError(`${what} ${(e as Error).message}`);
  }
}

/** One source: must exist and be a single-platform image manifest; its config gives the platform. */
async function sourceImage(client: RegistryClient, ref: Reference): Promise<Image> {
  let top;
  try {
    top = await client.getManifest(ref);
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) throw new KilnError(`SRC ${ref}: no such image in the registry`);
    throw e;
  }
  if (isIndex(top.mediaType)) {
    const idx = JSON.parse(new TextDecoder().decode(top.bytes)) as ImageIndex;
    const platforms = (idx.manifests ?? []).filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
    throw new KilnError(`SRC ${ref} is itself an index (${platforms.join(", ") || "no platforms"}); name one image of it by digest (${ref.context()}@sha256:…)`);
  }
  if (!isImageManifest(top.mediaType)) throw new KilnError(`SRC ${ref}: not an image manifest (${top.mediaType})`);
  return fetchImage(client, ref.withDigest(top.digest));
}

export function indexCreateCommand() {
  return withRegistryOptions(new Command("create")
    .description("push an image index (or Docker manifest list) for TARGET made of the single-platform images SRC…, already in the same registry; no layer is downloaded")
    .argument("<target>", "where the index goes, e.g. reg/app:1.0")
    .argument("<sources...>", "one image per platform, e.g. reg/app:1.0-amd64 reg/app:1.0-arm64")
    .addOption(new Option("--image-format <format>", "oci index or docker manifest list (default: docker when every SRC is Docker v2s2, else oci)").choices(["oci", "docker"] as const))
    .option("--annotation <k=v>", "index annotation, OCI only (repeatable)", collect, [] as string[]))
    .option("--digest-file <file>", "also write the index digest here")
    .action(async (target, sources, o) => {
      const annotations = Object.fromEntries(o.annotation.map((v) => {
        const i = v.indexOf("=");
        if (i <= 0) throw new UsageError(`flag --annotation: want key=value, got "${v}"`);
        return [v.slice(0, i), v.slice(i + 1)];
      }));
      if (o.imageFormat === "docker" && o.annotation.length) throw new UsageError("flag --annotation: a Docker manifest list has no annotations (use --image-format oci)");
      const res = await createIndex(target, sources, {
        format: o.imageFormat,
        annotations,
        ...registryOptionsOf(o),
        onSource: (src, platform, digest) => console.error(`${platform.padEnd(16)} ${digest}  ${src}`),
      });
      if (o.digestFile) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(o.digestFile, res.digest);
      }
      for (const p of res.pushed) console.error(`pushed ${p}`);
      console.log(res.digest);
    });
}
