// The end of one RUN's output on a stream the resident helper keeps open across RUNs: the helper
// writes a random per-RUN sentinel after every process of the step is gone. Bytes are passed on
// as they come, except a tail that may be the start of the sentinel (held until the next chunk).

const EMPTY = new Uint8Array(0);

export class SentinelSplitter {
  private held: Uint8Array = EMPTY;
  private found = false;
  private readonly sentinel: Buffer;

  constructor(sentinel: string, private readonly emit: (chunk: Uint8Array) => void) {
    this.sentinel = Buffer.from(sentinel);
  }

  get done(): boolean {
    return this.found;
  }

  /** Feed a chunk; true once the sentinel has been seen (anything after it is not this RUN's and is dropped). */
  push(chunk: Uint8Array): boolean {
    if (this.found) return true;
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const at = data.indexOf(this.sentinel);
    if (at >= 0) {
      if (at > 0) this.emit(data.subarray(0, at));
      this.held = EMPTY;
      this.found = true;
      return true;
    }
    const keep = this.partialAtEnd(data);
    if (data.length > keep) this.emit(data.subarray(0, data.length - keep));
    this.held = keep ? data.slice(data.length - keep) : EMPTY;
    return false;
  }

  /** Length of the longest tail of `data` that is a proper prefix of the sentinel. */
  private partialAtEnd(data: Uint8Array): number {
    const s = this.sentinel;
    for (let k = Math.min(s.length - 1, data.length); k > 0; k--) {
      let match = true;
      for (let i = 0; i < k && match; i++) match = data[data.length - k + i] === s[i];
      if (match) return k;
    }
    return 0;
  }
}
