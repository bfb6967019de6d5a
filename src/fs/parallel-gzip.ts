// gzip on every core: the tar stream is cut into fixed blocks, each compressed on its own (zlib's
// async gzip runs in the thread pool) and written in order as a separate gzip member. A series of
// members is one valid gzip file (RFC 1952; Go's, Python's, zlib's and GNU gzip's readers all read
// it), and fixed block boundaries keep the output the same for the same input.
// Most layers of a build are a few hundred bytes (a COPY of one file, a RUN that writes one):
// for those the pool is pure overhead (a 2 MiB block, a stream, a thread-pool round trip), so
// the block grows as data comes and a stream that ends small is compressed inline with
// gzipSync, which gives the same bytes as the pool's one member (tests/fs/parallel-gzip.test.ts).
// Not at levels 0 and 1: there zlib's stored and "quick" strategies end a stream written then
// finished (the pool's zlib stream, on Bun and Deno alike) differently from one finished at once.
import { availableParallelism } from "node:os";
import { createGzip, gzipSync } from "node:zlib";

export const BLOCK = 2 << 20;
/** A whole stream up to this size is compressed on the calling thread (well under a millisecond a KiB at level 6). */
export const INLINE_MAX = 256 << 10;
const FIRST_BLOCK = 64 << 10;
// One more block in flight than cores, so every core stays busy while the oldest is written.
const IN_FLIGHT = Math.min(availableParallelism() + 1, 9);

// A stream whose output chunk holds a whole block (deflate grows incompressible data by well under
// 64 KiB per 2 MiB), so each block's output is one allocation. The one-shot gzip() gathered 16 KiB
// chunks and concatenated them: twice the output in garbage, which the GC reclaimed late
// (+110 MB RSS while writing a 200 MB layer), and 20% slower.
function gzipBlock(data: Uint8Array, level: number | undefined): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const z = createGzip({ ...(level === undefined ? {} : { level }), chunkSize: BLOCK + (64 << 10) });
    const out: Uint8Array[] = [];
    z.on("data", (c: Uint8Array) => out.push(c));
    z.on("end", () => resolve(out));
    z.on("error", reject);
    z.end(data);
  });
}

/** Levels whose one-shot output equals the stream's (see the header); undefined is zlib's default, 6. */
function inlineSameBytes(level: number | undefined): boolean {
  return level === undefined || level === -1 || level >= 2;
}

export class ParallelGzip {
  /** Input blocks are reused once compressed: big layers would otherwise leave GC-lagged garbage. */
  private free: Uint8Array[] = [];
  /** The first grows up to BLOCK as data comes (a small layer never allocates a whole block). */
  private block: Uint8Array = new Uint8Array(0);
  private used = 0;
  private queue: { input: Uint8Array; output: Promise<Uint8Array[]> }[] = [];
  private submitted = 0;

  constructor(private level: number | undefined, private emit: (chunk: Uint8Array) => void) {}

  /** Copies `chunk`; the caller may reuse it as soon as this resolves. */
  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(BLOCK - this.used, chunk.length - off);
      this.reserve(this.used + n);
      this.block.set(chunk.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === BLOCK) await this.submit();
    }
  }

  async end(): Promise<void> {
    if (this.submitted === 0 && this.used <= INLINE_MAX && inlineSameBytes(this.level)) {
      // The whole stream is one small block: the same single member, without the pool.
      this.submitted++;
      this.emit(gzipSync(this.block.subarray(0, this.used), this.level === undefined ? {} : { level: this.level }));
      return;
    }
    if (this.used > 0 || this.submitted === 0) await this.submit();
    while (this.queue.length > 0) await this.writeOldest();
  }

  private reserve(size: number): void {
    if (size <= this.block.length) return;
    const grown = new Uint8Array(Math.min(BLOCK, Math.max(size, FIRST_BLOCK, this.block.length * 2)));
    grown.set(this.block.subarray(0, this.used));
    this.block = grown;
  }

  private async submit(): Promise<void> {
    const input = this.block;
    this.submitted++;
    this.queue.push({ input, output: gzipBlock(input.subarray(0, this.used), this.level) });
    // A stream that filled one block is a big one: whole blocks from now on.
    this.block = this.free.pop() ?? new Uint8Array(BLOCK);
    this.used = 0;
    if (this.queue.length >= IN_FLIGHT) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { input, output } = this.queue.shift()!;
    for (const c of await output) this.emit(c);
    if (input.length === BLOCK) this.free.push(input);
  }
}
