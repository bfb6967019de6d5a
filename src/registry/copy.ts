// What `kiln copy` does, as a library call: read an image from one location, write it to another.
import type { ImageFormat } from "../image/media-types.ts";
import { writeDockerArchive } from "../image/docker-archive.ts";
import { writeOciLayout } from "../image/layout.ts";
import { parseImageLocation } from "../image/location.ts";
import { withFormat } from "../image/mutate.ts";
import { hostPlatform, parsePlatform } from "../image/platform.ts";
import { UsageError } from "../util/errors.ts";
import { RegistryClient } from "./client.ts";
import { openImage } from "./open-image.ts";
import { pushImage } from "./push.ts";
import type { RegistryOptions } from "./transport.ts";

export interface CopyOptions extends RegistryOptions {
  platform?: string;
  format?: ImageFormat;
  concurrency?: number;
}

/** Copy one image; returns the manifest digest at the destination. */
export async function runCopy(src: string, dst: string, opts: CopyOptions = {}): Promise<string> {
  const from = parseImageLocation(src, { what: "argument <src>", accept: ["registry", "oci"] });
  const to = parseImageLocation(dst, { what: "argument <dst>" });
  let platform = hostPlatform();
  if (opts.platform) {
    try {
      platform = parsePlatform(opts.platform);
    } catch (e) {
      throw new UsageError(`flag --platform: ${(e as Error).message}`);
    }
  }
  const client = new RegistryClient(opts);
  let { image: img, ref: fromRef } = await openImage(client, from, platform);
  if (opts.format) img = withFormat(img, opts.format);

  if (to.kind === "registry") {
    const res = await pushImage(client, img, to.ref, { concurrency: opts.concurrency, mountFrom: fromRef ? [fromRef] : [] });
    return res.digest;
  }
  if (to.kind === "oci") return (await writeOciLayout(img, to.dir, to.tag)).digest;
  const tag = to.ref ?? (fromRef?.tag ? fromRef.withTag(fromRef.tag) : undefined);
  await writeDockerArchive(img, to.file, tag ? [tag.toString()] : []);
  return img.manifestDigest;
}
