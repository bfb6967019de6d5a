// Pull-based view over an async chunk stream. Hands out subarrays of the producer's chunks
// (no copies) except when a header block straddles two chunks.
import { TarFormatError } from "./errors.ts";

const EMPTY = new Uint8Array(0);

export class ByteInput {
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  #eof = false;
  /** Bytes consumed so far, for error messages. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  get eof(): boolean {
    return this.#eof;
  }

  async #pull(): Promise<boolean> {
    while (!this.#eof) {
      const r = await this.#it.next();
      if (r.done) {
        this.#eof = true;
        return false;
      }
      const c = r.value;
      if (!(c instanceof Uint8Array)) throw new TypeError("tar: source must yield Uint8Array chunks");
      if (c.length > 0) {
        this.#buf = c;
        this.#pos = 0;
        return true;
      }
    }
    return false;
  }

  /** Exactly n bytes; null if the stream is already at EOF; throws if it ends part-way. */
  async read(n: number, what: string): Promise<Uint8Array | null> {
    const avail = this.#buf.length - this.#pos;
    if (avail >= n) {
      const r = this.#buf.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.offset += n;
      return r;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.#pos >= this.#buf.length && !(await this.#pull())) {
        if (filled === 0) return null;
        throw truncated(what, this.offset, n - filled);
      }
      const take = Math.min(n - filled, this.#buf.length - this.#pos);
      out.set(this.#buf.subarray(this.#pos, this.#pos + take), filled);
      this.#pos += take;
      this.offset += take;
      filled += take;
    }
    return out;
  }

  /** Up to max (> 0) bytes from the current chunk; null at EOF. */
  async chunk(max: number): Promise<Uint8Array | null> {
    if (this.#pos >= this.#buf.length && !(await this.#pull())) return null;
    const take = Math.min(max, this.#buf.length - this.#pos);
    const r = this.#buf.subarray(this.#pos, this.#pos + take);
    this.#pos += take;
    this.offset += take;
    return r;
  }

  /** Skips n bytes; throws if the stream ends first. */
  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#pos >= this.#buf.length && !(await this.#pull())) throw truncated(what, this.offset, left);
      const take = Math.min(left, this.#buf.length - this.#pos);
      this.#pos += take;
      this.offset += take;
      left -= take;
    }
  }

  /** Reads and discards everything that is left, returning how many bytes that was. */
  async drain(): Promise<number> {
    let n = this.#buf.length - this.#pos;
    this.#pos = this.#buf.length;
    while (await this.#pull()) {
      n += this.#buf.length;
      this.#pos = this.#buf.length;
    }
    this.offset += n;
    return n;
  }

  /** Lets the producer release resources when we stop early. */
  async close(): Promise<void> {
    if (this.#eof) return;
    this.#eof = true;
    await this.#it.return?.();
  }
}

export function truncated(what: string, offset: number, missing: number): Error {
  return new TarFormatError(`tar: archive is truncated: ${what} at offset ${offset} is missing ${missing} bytes`);
}
