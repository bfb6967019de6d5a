// Push a multi-platform image: every child image (blobs, then its manifest by digest) into each
// destination repository, then the index under each destination's tag. A tag is thus never
// pointed at an index whose children are missing; a failure before the index leaves only
// untagged manifests behind.
import { KilnError } from "../util/errors.ts";
import type { BuiltIndex } from "../image/index-manifest.ts";
import { Reference } from "../image/reference.ts";
import type { RegistryClient } from "./client.ts";
import { pushImage, type PushOptions, type PushResult } from "./push.ts";

/** A push's result for the index itself (digest: what digest files name), plus each child's. */
export interface PushIndexResult extends PushResult {
  /** One result per child image, in index order. */
  children: PushResult[];
}

/** Push `idx` (from makeIndex) to one or more destinations; later destinations mount from the first. */
export async function pushIndex(client: RegistryClient, idx: BuiltIndex, destinations: Reference | readonly Reference[], opts: PushOptions = {}): Promise<PushIndexResult> {
  const dests = Array.isArray(destinations) ? (destinations as Reference[]) : [destinations as Reference];
  if (!dests.length) throw new KilnError("pushIndex: no destination");
  const result: PushIndexResult = { digest: idx.digest, mediaType: idx.mediaType, size: idx.bytes.length, pushed: [], children: [], blobs: [] };
  for (const img of idx.images) {
    // By digest in each destination repository: an index may only name manifests its repository holds.
    const repos = new Map(dests.map((d) => [d.context(), new Reference(d.registry, d.repository, undefined, img.manifestDigest)]));
    const byDigest = [...repos.values()];
    const r = await pushImage(client, img, byDigest, opts);
    result.children.push(r);
    result.blobs.push(...r.blobs);
  }
  for (const dest of dests) {
    const digest = await client.putManifest(dest, idx.bytes, idx.mediaType);
    result.pushed.push(dest.withDigest(digest));
  }
  return result;
}
