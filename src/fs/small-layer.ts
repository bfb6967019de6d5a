// Decompressing a layer for the unpacker, with a fast path for small layers: a layer whose
// compressed bytes end within SMALL_COMPRESSED is gunzipped in one synchronous call (capped at
// SMALL_OUTPUT, so a gzip bomb cannot grow it) and handed over as one chunk. The streaming
// gunzip's per-chunk machinery (stream buffers, copies, ticks) costs more than the inflate itself
// on a 1 MiB layer. Anything larger, zstd, or a layer the sync call refuses goes through the
// streaming decompress() unchanged, so memory stays bounded and errors read the same.
import zlib from "node:zlib";
import { decompress, sniffCompression } from "./compression.ts";

/** Compressed bytes read ahead before deciding the layer is small. */
export const SMALL_COMPRESSED = 4 << 20;
/** Largest decompressed size the fast path holds in memory. */
export const SMALL_OUTPUT = 32 << 20;

/** The layer's tar bytes (gzip, zstd or plain tar, detected from its bytes), in chunks. */
export async function* inflateLayer(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  while (size <= SMALL_COMPRESSED) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    parts.push(r.value);
    size += r.value.length;
  }
  if (ended) {
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const whole = sniffCompression(all) === "gzip" ? gunzipSmall(all) : undefined;
    if (whole) {
      yield whole;
      return;
    }
  }
  yield* decompress(replay(parts, ended ? undefined : it), what);
}

async function* replay(parts: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined): AsyncGenerator<Uint8Array> {
  try {
    yield* parts;
    if (!rest) return;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await rest?.return?.();
  }
}

// One sync gunzip into a buffer sized by the gzip trailer's ISIZE (a hint only: wrong or lying
// sizes just cost a copy, and SMALL_OUTPUT still caps the result). undefined: take the stream.
function gunzipSmall(gz: Uint8Array): Uint8Array | undefined {
  if (gz.length < 18) return undefined;
  const isize = new DataView(gz.buffer, gz.byteOffset + gz.length - 4, 4).getUint32(0, true);
  if (isize > SMALL_OUTPUT) return undefined;
  try {
    return zlib.gunzipSync(gz, { chunkSize: Math.max(64 << 10, isize + 1), maxOutputLength: SMALL_OUTPUT });
  } catch {
    return undefined; // bigger than it said, multi-member oddities or corrupt: the stream decides
  }
}
