// Push-based tar reader: fed decompressed chunks synchronously, it calls its sink for each entry
// and each piece of a file body (subarrays of the chunks, never copied). The unpacker uses it so
// an archive costs one await per chunk rather than several per entry. Same formats and errors as
// the pull reader (reader.ts): ustar, PAX (x/g), GNU long names, base-256, v7; bytes after the
// end-of-archive marker are ignored.
import { BLOCK, parseHeader, verifyChecksum } from "./header.ts";
import { truncated } from "./input.ts";
import { MAX_META_SIZE } from "./pax.ts";
import type { TarHeader } from "./types.ts";
import { applyMeta, checkMetaSize, isMetaFlag, pad, takeHeader, type PendingMeta } from "./entry-header.ts";

export interface TarSink {
  /** A new entry; for files, its body follows through body() calls. */
  entry(h: TarHeader): void;
  /** The next piece of the current file's body (valid only during the call). */
  body(bytes: Uint8Array): void;
  /** The current entry is complete (called for every entry, after its whole body). */
  end(): void;
}

/** What the next bytes are. */
const State = { Header: 0, Meta: 1, Body: 2, Skip: 3, Done: 4 } as const;
type State = (typeof State)[keyof typeof State];

export class TarPushReader {
  #state: State = State.Header;
  /** A header block or meta payload that straddles chunks. */
  #carry = new Uint8Array(BLOCK);
  #carried = 0;
  /** Bytes still expected in the current state (header: BLOCK; meta, body, skip: their size). */
  #need = BLOCK;
  #meta: PendingMeta = { global: null, local: null, longName: null, longLink: null };
  #metaFlag = 0;
  #metaAt = 0;
  #padAfter = 0;
  #what = "";
  /** Archive offset of the next byte, for error messages. */
  #offset = 0;

  constructor(private sink: TarSink) {}

  /** Feed the next chunk; the sink is called synchronously for everything it completes. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Header: {
          let block: Uint8Array;
          if (this.#carried === 0 && n - pos >= BLOCK) {
            block = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.#carried, n - pos);
            this.#carry.set(chunk.subarray(pos, pos + take), this.#carried);
            this.#carried += take;
            pos += take;
            if (this.#carried < BLOCK) break;
            block = this.#carry;
            this.#carried = 0;
          }
          const at = this.#offset;
          this.#offset += BLOCK;
          this.#header(block, at);
          break;
        }
        case State.Meta: {
          const take = Math.min(this.#need - this.#carried, n - pos);
          this.#carry.set(chunk.subarray(pos, pos + take), this.#carried);
          this.#carried += take;
          pos += take;
          this.#offset += take;
          if (this.#carried < this.#need) break;
          const data = this.#carry.subarray(0, this.#need);
          this.#carried = 0;
          applyMeta(this.#meta, this.#metaFlag, data, this.#metaAt);
          this.#skip(this.#padAfter, `'${String.fromCharCode(this.#metaFlag)}' extended header padding`);
          break;
        }
        case State.Body: {
          const take = Math.min(this.#need, n - pos);
          this.sink.body(chunk.subarray(pos, pos + take));
          pos += take;
          this.#offset += take;
          this.#need -= take;
          if (this.#need === 0) this.#endEntry();
          break;
        }
        case State.Skip: {
          const take = Math.min(this.#need, n - pos);
          pos += take;
          this.#offset += take;
          this.#need -= take;
          if (this.#need === 0) this.#state = State.Header;
          break;
        }
      }
    }
  }

  /** The source ended: throws when it ended inside an entry. */
  finish(): void {
    switch (this.#state) {
      case State.Done:
        return;
      case State.Header:
        if (this.#carried > 0) throw truncated("header", this.#offset + this.#carried, BLOCK - this.#carried);
        if (this.#meta.local || this.#meta.longName !== null || this.#meta.longLink !== null) {
          throw truncated("entry after an extended header", this.#offset, BLOCK);
        }
        return; // EOF without end marker: accepted, as GNU tar and Python do
      case State.Meta:
        throw truncated(`'${String.fromCharCode(this.#metaFlag)}' extended header`, this.#offset, this.#need - this.#carried);
      case State.Body:
        throw truncated("file body", this.#offset, this.#need);
      case State.Skip:
        throw truncated(this.#what, this.#offset, this.#need);
    }
  }

  #header(block: Uint8Array, at: number): void {
    if (!verifyChecksum(block, at)) {
      this.#state = State.Done; // end-of-archive marker: whatever follows is padding
      return;
    }
    const raw = parseHeader(block);
    if (isMetaFlag(raw.typeflag)) {
      const size = checkMetaSize(raw, at);
      this.#metaFlag = raw.typeflag;
      this.#metaAt = at;
      this.#padAfter = pad(size);
      if (this.#carry.length < size) this.#carry = new Uint8Array(Math.min(MAX_META_SIZE, Math.max(size, this.#carry.length * 2)));
      this.#need = size;
      this.#carried = 0;
      this.#state = State.Meta;
      if (size === 0) {
        applyMeta(this.#meta, raw.typeflag, new Uint8Array(0), at);
        this.#skip(0, "");
      }
      return;
    }
    const header = takeHeader(this.#meta, raw, at);
    this.sink.entry(header);
    const size = header.type === "file" ? header.size : 0;
    this.#padAfter = pad(size);
    this.#what = `body of "${header.name}"`;
    if (size === 0) return this.#endEntry();
    this.#need = size;
    this.#state = State.Body;
  }

  #endEntry(): void {
    this.sink.end();
    this.#skip(this.#padAfter, this.#what);
  }

  #skip(n: number, what: string): void {
    this.#what = what;
    this.#need = n;
    this.#state = n > 0 ? State.Skip : State.Header;
    if (n === 0) this.#need = BLOCK;
  }
}
