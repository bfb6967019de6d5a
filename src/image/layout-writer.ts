// The one writer of OCI image layouts (image-spec layout.md), for --oci-layout-path, `kiln copy
// … oci:DIR` and the oci: layer cache alike, so two kiln processes may write one layout at once:
// blobs get their final name by rename only once complete and digest-checked, and index.json is
// read, changed and renamed into place under a lock file.
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { withLockFile } from "../util/lock-file.ts";
import { checkDigest, digestAlgorithm, digestHex, sha256, verifyStream } from "./digest.ts";
import { descriptor, pushableLayers, type Image } from "./image.ts";
import { OCI_INDEX } from "./media-types.ts";
import type { Descriptor, ImageIndex } from "./types.ts";

export const REF_NAME = "org.opencontainers.image.ref.name";

export function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", digestAlgorithm(digest), digestHex(digest));
}

/** index.json of a layout; an empty index when there is none yet. */
export function readLayoutIndex(dir: string): ImageIndex {
  const file = join(dir, "index.json");
  if (!existsSync(file)) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ImageIndex;
  } catch {
    throw new KilnError(`${file}: not valid JSON`);
  }
}

const tmpName = (path: string) => `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tmpName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A blob already in place with the right size (its name is its digest; it was checked before the rename). */
const present = (path: string, size: number) => existsSync(path) && statSync(path).size === size;

export class OciLayoutWriter {
  constructor(readonly dir: string) {}

  /** Create the layout's skeleton (blobs/, oci-layout) if it is not there yet. */
  init(): this {
    mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
    const marker = join(this.dir, "oci-layout");
    if (!existsSync(marker)) writeAtomic(marker, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    return this;
  }

  /** Store bytes as a blob; returns its digest (`digest` given: the bytes must match it). */
  putBytes(bytes: Uint8Array, digest?: string): string {
    const actual = sha256(bytes);
    if (digest !== undefined && digest !== actual) throw new KilnError(`OCI layout ${this.dir}: blob ${digest} does not match its content (${actual})`);
    const path = blobPath(this.dir, actual);
    if (!present(path, bytes.length)) {
      mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
      writeAtomic(path, bytes);
    }
    return actual;
  }

  /** Store a streamed blob, checking size and digest on the way: a bad stream never becomes a blob. */
  async putStream(digest: string, size: number, source: () => Promise<AsyncIterable<Uint8Array>>, where = digest): Promise<void> {
    checkDigest(digest, `blob digest for ${where}`);
    const path = blobPath(this.dir, digest);
    if (present(path, size)) return;
    mkdirSync(join(this.dir, "blobs", digestAlgorithm(digest)), { recursive: true });
    const tmp = tmpName(path);
    // A file handle, not a write stream: each write is done before the next, and nothing is
    // still pending to land in the temp file after it has been removed on failure.
    const out = await open(tmp, "wx");
    try {
      for await (const chunk of verifyStream(await source(), digest, size, where)) await out.write(chunk);
      await out.close();
      renameSync(tmp, path);
    } catch (e) {
      await out.close().catch(() => {});
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  /** Store a local file as a blob (checked against `digest` and `size`). */
  putFile(file: string, digest: string, size: number): Promise<void> {
    return this.putStream(digest, size, async () => createReadStream(file, { highWaterMark: 1 << 20 }), file);
  }

  /**
   * Store an image's layers, config and manifest, in that order, without an index.json entry
   * (addManifest names it; an image index names its children by digest). Returns its descriptor.
   */
  async putImage(img: Image): Promise<Descriptor> {
    for (const l of pushableLayers(img)) await this.putStream(l.digest, l.size, () => l.open(), `layer ${l.digest}`);
    this.putBytes(img.configBytes, img.configDigest);
    this.putBytes(img.manifestBytes, img.manifestDigest);
    return descriptor({ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifestBytes.length });
  }

  /**
   * Add a manifest to index.json, under the lock. With a tag the entry carries REF_NAME and
   * replaces the older entry of that tag; without, it replaces an untagged entry of the same digest.
   * The manifest's blobs must be stored first, so the index never names a missing blob.
   */
  async addManifest(desc: Descriptor, tag?: string): Promise<Descriptor> {
    const entry: Descriptor = tag ? { ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } } : desc;
    const file = join(this.dir, "index.json");
    await withLockFile(`${file}.lock`, () => {
      const index = readLayoutIndex(this.dir);
      index.schemaVersion = 2;
      index.mediaType ??= OCI_INDEX;
      const replaced = (d: Descriptor) => (tag ? d.annotations?.[REF_NAME] === tag : d.digest === entry.digest && !d.annotations?.[REF_NAME]);
      index.manifests = [...(index.manifests ?? []).filter((d) => !replaced(d)), entry];
      writeAtomic(file, JSON.stringify(index));
    });
    return entry;
  }
}
