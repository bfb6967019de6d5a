// Streaming tar reader: ustar, PAX (x/g), GNU long names, base-256 numbers, v7.
// Bodies are subarrays of the source's chunks; nothing larger than a PAX header is buffered.
import { BLOCK, parseHeader, verifyChecksum, type RawHeader } from "./header.ts";
import { ByteInput, truncated } from "./input.ts";
import type { TarHeader } from "./types.ts";
import { TarFormatError } from "./errors.ts";
import { applyMeta, checkMetaSize, isMetaFlag, pad, takeHeader, type PendingMeta } from "./entry-header.ts";

export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

export interface ReadTarOptions {
  /**
   * What to do with bytes after the end-of-archive marker. "drain" (default) reads and ignores
   * them, so an upstream digest/decompressor sees the whole stream (tar pads to 10 KiB records);
   * "error" throws if any of them is non-zero.
   */
  trailing?: "drain" | "error";
}

export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const input = new ByteInput(source);
  const meta: PendingMeta = { global: null, local: null, longName: null, longLink: null };
  try {
    for (;;) {
      const at = input.offset;
      const block = await input.read(BLOCK, "header");
      if (block === null) {
        if (meta.local || meta.longName !== null || meta.longLink !== null) {
          throw truncated("entry after an extended header", input.offset, BLOCK);
        }
        return; // EOF without end marker: accepted, as GNU tar and Python do
      }
      if (!verifyChecksum(block, at)) {
        await finishAfterEnd(input, options.trailing ?? "drain");
        return;
      }
      const raw = parseHeader(block);
      if (isMetaFlag(raw.typeflag)) {
        applyMeta(meta, raw.typeflag, await readMeta(input, raw, at), at);
        continue;
      }
      const header: TarHeader = takeHeader(meta, raw, at);

      const state = new BodyState(input, header.type === "file" ? header.size : 0);
      yield { header, body: state };
      state.stale = true;
      await input.skip(state.remaining + pad(state.size), `body of "${header.name}"`);
    }
  } finally {
    await input.close();
  }
}

/** Reads a PAX / GNU long-name payload, bounded so a lying size cannot exhaust memory. */
async function readMeta(input: ByteInput, raw: RawHeader, at: number): Promise<Uint8Array> {
  const kind = String.fromCharCode(raw.typeflag);
  checkMetaSize(raw, at);
  const data = raw.size === 0 ? new Uint8Array(0) : await input.read(raw.size, `'${kind}' extended header`);
  if (data === null) throw truncated(`'${kind}' extended header`, input.offset, raw.size);
  await input.skip(pad(raw.size), `'${kind}' extended header padding`);
  return data;
}

/** The body of one entry; readable once, and only until the reader moves on. */
class BodyState implements AsyncIterable<Uint8Array> {
  remaining: number;
  stale = false;
  #started = false;

  constructor(
    readonly input: ByteInput,
    readonly size: number,
  ) {
    this.remaining = size;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.stale) throw new Error("tar: entry body read after the reader moved to the next entry");
    if (this.#started) throw new Error("tar: entry body can only be read once");
    this.#started = true;
    while (this.remaining > 0) {
      const c = await this.input.chunk(this.remaining);
      if (c === null) throw truncated("file body", this.input.offset, this.remaining);
      this.remaining -= c.length;
      yield c;
      if (this.stale) throw new Error("tar: entry body read after the reader moved to the next entry");
    }
  }
}

async function finishAfterEnd(input: ByteInput, trailing: "drain" | "error"): Promise<void> {
  if (trailing === "drain") {
    await input.drain();
    return;
  }
  for (;;) {
    const at = input.offset;
    const c = await input.chunk(1 << 20);
    if (c === null) return;
    const nz = c.findIndex((b) => b !== 0);
    if (nz >= 0) throw new TarFormatError(`tar: unexpected data after the end-of-archive marker at offset ${at + nz}`);
  }
}
