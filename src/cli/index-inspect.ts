// `kiln index inspect REF`: what an image index (or a single manifest) holds, read from a
// registry or an OCI layout without pulling any layer: media type, digest, size, and per
// platform its manifest, with the image's compressed size and layer count.
import { Command } from "@commander-js/extra-typings";
import { findLayoutEntry, readLayoutBlob } from "../image/layout.ts";
import { formatLocation, parseImageLocation } from "../image/location.ts";
import { isImageManifest, isIndex } from "../image/media-types.ts";
import { formatPlatform } from "../image/platform.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../image/types.ts";
import { RegistryClient } from "../registry/client.ts";
import { KilnError } from "../util/errors.ts";
import { humanSize } from "../util/log.ts";
import { registryOptionsOf, withRegistryOptions } from "./registry-options.ts";

const REFERENCE_TYPE = "vnd.docker.reference.type";

/** One manifest of an index: where it runs, and what its image weighs. */
export interface InspectedManifest {
  platform?: string;
  mediaType: string;
  digest: string;
  size: number;
  /** Config plus compressed layers, for an image manifest. */
  imageSize?: number;
  layers?: number;
  /** Set for attestations and other manifests that are not images to run (BuildKit's reference type). */
  referenceType?: string;
}

export interface Inspected extends InspectedManifest {
  reference: string;
  /** The index's manifests; absent for a single image manifest. */
  manifests?: InspectedManifest[];
}

/** Reads manifests and configs by digest, from a registry repository or a layout. */
interface ManifestSource {
  top(): Promise<{ mediaType: string; digest: string; bytes: Uint8Array }>;
  blob(d: Descriptor): Promise<Uint8Array>;
}

/** os/arch[/variant], or undefined when the descriptor or config names no full platform. */
function platformString(p: Partial<Platform> | undefined): string | undefined {
  if (!p?.os || !p.architecture) return undefined;
  return formatPlatform({ os: p.os, architecture: p.architecture, variant: p.variant });
}

const json = <T>(bytes: Uint8Array): T => JSON.parse(new TextDecoder().decode(bytes)) as T;

async function inspectImage(src: ManifestSource, d: Descriptor, bytes: Uint8Array): Promise<InspectedManifest> {
  const m = json<ImageManifest>(bytes);
  const out: InspectedManifest = { mediaType: d.mediaType, digest: d.digest, size: d.size, imageSize: m.config.size + m.layers.reduce((n, l) => n + l.size, 0), layers: m.layers.length };
  const config = json<Partial<Platform>>(await src.blob(m.config));
  out.platform = platformString(d.platform) ?? platformString(config);
  return out;
}

export async function inspectLocation(src: ManifestSource, reference: string): Promise<Inspected> {
  const top = await src.top();
  const desc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  if (isImageManifest(top.mediaType)) return { reference, ...(await inspectImage(src, desc, top.bytes)) };
  if (!isIndex(top.mediaType)) throw new KilnError(`${reference}: neither an image index nor an image manifest (${top.mediaType})`);
  const index = json<ImageIndex>(top.bytes);
  const manifests: InspectedManifest[] = [];
  for (const d of index.manifests ?? []) {
    const referenceType = d.annotations?.[REFERENCE_TYPE];
    if (isImageManifest(d.mediaType) && !referenceType) {
      manifests.push(await inspectImage(src, d, await src.blob(d)));
    } else {
      manifests.push({ platform: platformString(d.platform), mediaType: d.mediaType, digest: d.digest, size: d.size, ...(referenceType ? { referenceType } : {}) });
    }
  }
  return { reference, mediaType: top.mediaType, digest: top.digest, size: top.bytes.length, manifests };
}

function format(r: Inspected): string {
  const lines = [r.reference, `  media type  ${r.mediaType}`, `  digest      ${r.digest}`, `  size        ${r.size} B`];
  const weight = (m: InspectedManifest) => (m.imageSize !== undefined ? `${humanSize(m.imageSize)}, ${m.layers} layer${m.layers === 1 ? "" : "s"}` : m.referenceType ?? "");
  if (!r.manifests) {
    lines.push(`  platform    ${r.platform ?? "unknown"}`, `  image       ${weight(r)}`);
    return lines.join("\n");
  }
  lines.push(`  manifests   ${r.manifests.length}`);
  const width = Math.max(8, ...r.manifests.map((m) => (m.platform ?? "unknown").length));
  for (const m of r.manifests) {
    lines.push(`    ${(m.platform ?? "unknown").padEnd(width)}  ${m.digest}  ${m.mediaType}  ${m.size} B  ${m.imageSize !== undefined ? "image " : ""}${weight(m)}`.trimEnd());
  }
  return lines.join("\n");
}

export function indexInspectCommand() {
  return withRegistryOptions(new Command("inspect")
    .description("show what an image index or manifest holds: media type, digest, size, and each platform's manifest")
    .argument("<ref>", "docker://REF, REF, oci:DIR[:TAG] (oci-layout://DIR[:TAG])")
    .option("--json", "print JSON", false))
    .action(async (value, o) => {
      const loc = parseImageLocation(value, { what: "argument <ref>", accept: ["registry", "oci"] });
      let src: ManifestSource;
      if (loc.kind === "registry") {
        const client = new RegistryClient(registryOptionsOf(o));
        const ref = loc.ref;
        src = { top: () => client.getManifest(ref), blob: async (d) => (isIndex(d.mediaType) || isImageManifest(d.mediaType) ? (await client.getManifest(ref.withDigest(d.digest))).bytes : client.getBlobBytes(ref, d.digest, d.size)) };
      } else if (loc.kind === "oci") {
        const { dir, tag } = loc;
        src = {
          top: async () => {
            const d = findLayoutEntry(dir, tag);
            return { mediaType: d.mediaType, digest: d.digest, bytes: readLayoutBlob(dir, d) };
          },
          blob: async (d) => readLayoutBlob(dir, d),
        };
      } else {
        throw new KilnError(`argument <ref>: ${loc.kind} cannot be inspected`);
      }
      const r = await inspectLocation(src, formatLocation(loc));
      console.log(o.json ? JSON.stringify(r, null, 2) : format(r));
    });
}
