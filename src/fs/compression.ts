// Layer compression: gzip always, zstd when the runtime's node:zlib has it (Bun and Deno do today,
// older runtimes may not), or none. Decompression sniffs magic bytes because registries and
// tools sometimes mislabel media types; the media type is only a hint for error messages.
import zlib from "node:zlib";
import { Readable, type Transform } from "node:stream";
import { KilnError } from "../util/errors.ts";
import { sizeFromEnv } from "../util/size-env.ts";

export type Compression = "gzip" | "zstd" | "none";

const z = zlib as unknown as Record<string, unknown>;

export function zstdSupported(): boolean {
  return typeof z.createZstdDecompress === "function" && typeof z.createZstdCompress === "function";
}

export function layerMediaType(c: Compression): string {
  const base = "application/vnd.oci.image.layer.v1.tar";
  return c === "none" ? base : `${base}+${c}`;
}

/** Compression named by an OCI or Docker layer media type; undefined when it names none we know. */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  if (/gzip$/.test(mediaType)) return "gzip";
  if (/zstd$/.test(mediaType)) return "zstd";
  if (/\.tar$/.test(mediaType) || /diff\.tar$/.test(mediaType)) return "none";
  return undefined;
}

/** gzip or zstd by magic bytes, else "none". */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

function zstdMissing(what: string): KilnError {
  return new KilnError(`${what} is zstd-compressed but this runtime's node:zlib has no zstd support; upgrade Bun/Deno`);
}

/** A compressing Transform, or null for "none". */
export function createCompressor(c: Compression, level?: number): Transform | null {
  if (c === "none") return null;
  if (c === "gzip") return zlib.createGzip(level === undefined ? {} : { level });
  if (!zstdSupported()) throw zstdMissing("the requested layer compression");
  const params: Record<number, number> = {};
  const zc = zlib.constants as unknown as Record<string, number>;
  if (level !== undefined && zc.ZSTD_c_compressionLevel !== undefined) params[zc.ZSTD_c_compressionLevel] = level;
  return (z.createZstdCompress as (o: unknown) => Transform)({ params });
}

/**
 * The first non-empty chunk of `source`, to sniff a format from, and the whole stream again (that
 * chunk included); undefined when the stream is empty.
 */
export async function peekFirst(source: AsyncIterable<Uint8Array>): Promise<{ head: Uint8Array; all: AsyncGenerator<Uint8Array> } | undefined> {
  const it = source[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) return undefined;
  const head = first.value;
  const all = (async function* () {
    yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })();
  return { head, all };
}

/** Decompress a layer stream (gzip, zstd or plain tar, detected from the first bytes). */
export async function* decompress(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const peeked = await peekFirst(source);
  if (!peeked) return;
  const rest = peeked.all;
  const kind = sniffCompression(peeked.head);
  if (kind === "none") {
    yield* rest;
    return;
  }
  // Big output chunks let the zlib thread pool inflate ahead while the caller does sync file I/O.
  const chunk = { chunkSize: 256 << 10 };
  let d: Transform;
  if (kind === "gzip") d = zlib.createGunzip(chunk);
  else {
    if (!zstdSupported()) throw zstdMissing(what);
    d = (z.createZstdDecompress as (o: unknown) => Transform)(chunk);
  }
  const input = Readable.from(rest, { objectMode: false });
  input.on("error", (e) => d.destroy(e));
  input.pipe(d);
  try {
    for await (const chunk of d) yield chunk as Uint8Array;
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError(`${what}: cannot decompress ${kind} stream: ${(e as Error).message}`);
  } finally {
    input.destroy();
    d.destroy();
  }
}

/**
 * Cap on the decompressed tar bytes of one layer, ADD archive or tar context: a gzip/zstd bomb
 * (a few MB that inflate to terabytes) must not fill the disk. Default 64 GiB, which no real
 * layer comes near; KILN_MAX_UNPACKED_SIZE (bytes, or with a K/M/G/T suffix) changes it.
 */
export const DEFAULT_MAX_UNPACKED = 64 * 2 ** 30;

export function maxUnpackedSize(): number {
  return sizeFromEnv("KILN_MAX_UNPACKED_SIZE", DEFAULT_MAX_UNPACKED, "68719476736 or 64G");
}

/** Pass a decompressed stream through, failing once it exceeds maxUnpackedSize(). */
export async function* limitUnpacked(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const max = maxUnpackedSize();
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > max) {
      throw new KilnError(`${what}: decompresses to more than ${max} bytes (the limit against compression bombs; raise it with KILN_MAX_UNPACKED_SIZE)`);
    }
    yield chunk;
  }
}
