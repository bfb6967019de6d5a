// gzip on every core: the tar stream is cut into fixed blocks, each compressed on its own (zlib's
// async gzip runs in the thread pool) and written in order as a separate gzip member. A series of
// members is one valid gzip file (RFC 1952; Go's, Python's, zlib's and GNU gzip's readers all read
// it), and fixed block boundaries keep the output the same for the same input.
import { availableParallelism } from "node:os";
import { gzip } from "node:zlib";

const BLOCK = 2 << 20;
// Twice the cores, so every core stays busy while the oldest block is awaited and written.
const IN_FLIGHT = Math.min(2 * availableParallelism(), 16);

function gzipBlock(data: Uint8Array, level: number | undefined): Promise<Uint8Array> {
  return new Promise((resolve, reject) => gzip(data, level === undefined ? {} : { level }, (e, out) => (e ? reject(e) : resolve(out))));
}

export class ParallelGzip {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private queue: Promise<Uint8Array>[] = [];
  private submitted = 0;

  constructor(private level: number | undefined, private emit: (chunk: Uint8Array) => void) {}

  /** Takes ownership of `chunk` (the caller must not reuse it). */
  async write(chunk: Uint8Array): Promise<void> {
    this.parts.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes >= BLOCK) await this.submit(this.take(BLOCK));
  }

  async end(): Promise<void> {
    if (this.bytes > 0 || this.submitted === 0) await this.submit(this.take(this.bytes));
    while (this.queue.length > 0) this.emit(await this.queue.shift()!);
  }

  private take(n: number): Uint8Array {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    const block = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length > 0 ? [rest] : [];
    this.bytes = rest.length;
    return block;
  }

  private async submit(block: Uint8Array): Promise<void> {
    this.submitted++;
    this.queue.push(gzipBlock(block, this.level));
    if (this.queue.length >= IN_FLIGHT) this.emit(await this.queue.shift()!);
  }
}
