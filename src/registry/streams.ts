// Byte-stream plumbing between node streams, async iterables and fetch bodies.
import { createReadStream } from "node:fs";
import { noteGarbage } from "../runtime/index.ts";

/** A pull-based ReadableStream over an async iterable: fetch reads only as fast as it sends. */
export function toReadableStream(src: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        it ??= src[Symbol.asyncIterator]();
        try {
          const { done, value } = await it.next();
          if (done) c.close();
          else {
            c.enqueue(value);
            noteGarbage(value.length); // each chunk sent is garbage soon after
          }
        } catch (e) {
          c.error(e);
        }
      },
      async cancel() {
        await it?.return?.();
      },
    },
    { highWaterMark: 1 },
  );
}

/** Bytes [start, start+length) of a file, in 256 KiB reads. */
export function fileRange(path: string, start: number, length: number): AsyncIterable<Uint8Array> {
  if (length === 0) return (async function* () {})();
  return createReadStream(path, { start, end: start + length - 1, highWaterMark: 256 << 10 });
}

/** The body of a Response as an async iterable (empty for no body). */
export async function* responseChunks(res: Response): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
    await res.body.cancel().catch(() => {});
  }
}

/**
 * Cut one sequential stream into consecutive pieces of `size` bytes (the last may be
 * shorter), for chunked uploads of a stream that cannot be re-read.
 */
export class Chunker {
  private it: AsyncIterator<Uint8Array>;
  private rest: Uint8Array | undefined;
  done = false;

  constructor(src: AsyncIterable<Uint8Array>) {
    this.it = src[Symbol.asyncIterator]();
  }

  async *take(size: number): AsyncGenerator<Uint8Array> {
    let left = size;
    while (left > 0) {
      let c = this.rest;
      this.rest = undefined;
      if (!c) {
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          return;
        }
        c = r.value;
      }
      if (c.length > left) {
        this.rest = c.subarray(left);
        c = c.subarray(0, left);
      }
      left -= c.length;
      yield c;
    }
  }
}
