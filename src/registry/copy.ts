// What `kiln copy` does, as a library call: read an image from one location, write it to another.
import { UsageError } from "../util/errors.ts";
import type { Image } from "../image/image.ts";
import { writeDockerArchive } from "../image/docker-archive.ts";
import { parseLayoutLocation, readOciLayout, writeOciLayout } from "../image/layout.ts";
import type { ImageFormat } from "../image/media-types.ts";
import { withFormat } from "../image/mutate.ts";
import { hostPlatform, parsePlatform } from "../image/platform.ts";
import { parseReference, type Reference } from "../image/reference.ts";
import { RegistryClient } from "./client.ts";
import { fetchImage } from "./pull.ts";
import { pushImage } from "./push.ts";
import type { RegistryOptions } from "./transport.ts";

export interface CopyOptions extends RegistryOptions {
  platform?: string;
  format?: ImageFormat;
  concurrency?: number;
}

export type ImageLocation =
  | { kind: "registry"; ref: Reference }
  | { kind: "oci"; dir: string; tag?: string }
  | { kind: "docker-archive"; file: string; ref?: string };

/** Parse docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF] (skopeo's transport names). */
export function parseImageLocation(s: string): ImageLocation {
  if (s.startsWith("docker://")) return { kind: "registry", ref: parseReference(s.slice("docker://".length)) };
  if (s.startsWith("oci:") || s.startsWith("oci-layout://")) {
    const l = parseLayoutLocation(s);
    if (!l.dir) throw new UsageError(`"${s}": oci: needs a directory`);
    return { kind: "oci", ...l };
  }
  if (s.startsWith("docker-archive:")) {
    const body = s.slice("docker-archive:".length);
    // FILE:REF — the reference part contains a ":" tag or "/" that a file name rarely does; split at the first ":".
    const i = body.indexOf(":");
    if (!body) throw new UsageError(`"${s}": docker-archive: needs a file`);
    return i > 0 ? { kind: "docker-archive", file: body.slice(0, i), ref: body.slice(i + 1) } : { kind: "docker-archive", file: body };
  }
  throw new UsageError(`"${s}": want docker://REF, oci:DIR[:TAG] or docker-archive:FILE`);
}

/** Copy one image; returns the manifest digest at the destination. */
export async function runCopy(src: string, dst: string, opts: CopyOptions = {}): Promise<string> {
  const from = parseImageLocation(src);
  const to = parseImageLocation(dst);
  const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const client = new RegistryClient(opts);
  let img: Image;
  if (from.kind === "registry") img = await fetchImage(client, from.ref, { platform });
  else if (from.kind === "oci") img = readOciLayout(from.dir, from.tag, platform);
  else throw new UsageError(`"${src}": docker-archive is supported as a destination only`);
  if (opts.format) img = withFormat(img, opts.format);

  if (to.kind === "registry") {
    const res = await pushImage(client, img, to.ref, { concurrency: opts.concurrency, mountFrom: from.kind === "registry" ? [from.ref] : [] });
    return res.digest;
  }
  if (to.kind === "oci") return (await writeOciLayout(img, to.dir, to.tag)).digest;
  const tag = to.ref ?? (from.kind === "registry" && from.ref.tag ? from.ref.toString().replace(/@.*$/, "") : undefined);
  await writeDockerArchive(img, to.file, tag ? [tag] : []);
  return img.manifestDigest;
}
