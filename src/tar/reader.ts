// Streaming tar reader: ustar, PAX (x/g), GNU long names, base-256 numbers, v7.
// Bodies are subarrays of the source's chunks; nothing larger than a PAX header is buffered.
import { BLOCK, parseHeader, verifyChecksum, type RawHeader } from "./header.ts";
import { ByteInput, truncated } from "./input.ts";
import { MAX_META_SIZE, paxString, parsePax, parsePaxTime, parsePaxUint, type PaxRecords } from "./pax.ts";
import type { TarEntryType, TarHeader } from "./types.ts";
import { TarFormatError } from "./errors.ts";

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

const TYPES: Record<number, TarEntryType> = {
  0x30: "file", // '0'
  0x00: "file", // '\0' (old regular file)
  0x37: "file", // '7' contiguous
  0x31: "hardlink",
  0x32: "symlink",
  0x33: "char",
  0x34: "block",
  0x35: "dir",
  0x36: "fifo",
};

const PAX_X = 0x78; // 'x'
const PAX_G = 0x67; // 'g'
const GNU_LONGNAME = 0x4c; // 'L'
const GNU_LONGLINK = 0x4b; // 'K'
const GNU_SPARSE = 0x53; // 'S'

/** PAX keys folded into TarHeader fields; everything else is kept in header.pax. */
const CONSUMED = new Set([
  "path",
  "linkpath",
  "size",
  "uid",
  "gid",
  "uname",
  "gname",
  "mtime",
  "atime",
  "ctime",
  "hdrcharset",
  "SCHILY.devmajor",
  "SCHILY.devminor",
]);
const XATTR = "SCHILY.xattr.";

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const input = new ByteInput(source);
  let global: PaxRecords | null = null;
  let local: PaxRecords | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  try {
    for (;;) {
      const at = input.offset;
      const block = await input.read(BLOCK, "header");
      if (block === null) {
        if (local || longName !== null || longLink !== null) {
          throw truncated("entry after an extended header", input.offset, BLOCK);
        }
        return; // EOF without end marker: accepted, as GNU tar and Python do
      }
      if (!verifyChecksum(block, at)) {
        await finishAfterEnd(input, options.trailing ?? "drain");
        return;
      }
      const raw = parseHeader(block);
      const flag = raw.typeflag;
      if (flag === PAX_X || flag === PAX_G || flag === GNU_LONGNAME || flag === GNU_LONGLINK) {
        const data = await readMeta(input, raw, at);
        if (flag === PAX_X) local = merge(local, parsePax(data, at));
        else if (flag === PAX_G) global = merge(global, parsePax(data, at));
        else {
          const nul = data.indexOf(0);
          const s = paxString(nul < 0 ? data : data.subarray(0, nul));
          if (flag === GNU_LONGNAME) longName = s;
          else longLink = s;
        }
        continue;
      }
      if (flag === GNU_SPARSE) throw new TarFormatError(`tar: GNU sparse entry "${raw.name}" at offset ${at} is not supported`);
      const pax = global && local ? merge(new Map(global), local) : (local ?? global);
      const header = buildHeader(raw, pax, longName, longLink, at);
      local = null;
      longName = longLink = null;

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
  if (raw.size < 0 || raw.size > MAX_META_SIZE) {
    throw new TarFormatError(`tar: '${kind}' extended header at offset ${at} claims ${raw.size} bytes (allowed 0..${MAX_META_SIZE})`);
  }
  const data = raw.size === 0 ? new Uint8Array(0) : await input.read(raw.size, `'${kind}' extended header`);
  if (data === null) throw truncated(`'${kind}' extended header`, input.offset, raw.size);
  await input.skip(pad(raw.size), `'${kind}' extended header padding`);
  return data;
}

function merge(into: PaxRecords | null, from: PaxRecords): PaxRecords {
  if (!into) return from;
  // An empty value deletes the keyword (POSIX: it undoes a global or earlier record).
  for (const [k, v] of from) {
    if (v.length === 0) into.delete(k);
    else into.set(k, v);
  }
  return into;
}

function buildHeader(
  raw: RawHeader,
  pax: PaxRecords | null,
  longName: string | null,
  longLink: string | null,
  at: number,
): TarHeader {
  let name = longName ?? (raw.prefix ? `${raw.prefix}/${raw.name}` : raw.name);
  let linkname = longLink ?? raw.linkname;
  let { size, uid, gid, mtime, devmajor, devminor } = raw;
  let uname: string | undefined = raw.uname || undefined;
  let gname: string | undefined = raw.gname || undefined;
  let atime: number | undefined;
  let ctime: number | undefined;
  let xattrs: Map<string, Uint8Array> | undefined;
  let extra: Map<string, string> | undefined;

  if (pax) {
    for (const [key, v] of pax) {
      if (v.length === 0) continue; // deletion markers left over from merging
      switch (key) {
        case "path": name = paxString(v); break;
        case "linkpath": linkname = paxString(v); break;
        case "size": size = parsePaxUint(key, v); break;
        case "uid": uid = parsePaxUint(key, v); break;
        case "gid": gid = parsePaxUint(key, v); break;
        case "uname": uname = paxString(v); break;
        case "gname": gname = paxString(v); break;
        case "mtime": mtime = parsePaxTime(key, v); break;
        case "atime": atime = parsePaxTime(key, v); break;
        case "ctime": ctime = parsePaxTime(key, v); break;
        case "SCHILY.devmajor": devmajor = parsePaxUint(key, v); break;
        case "SCHILY.devminor": devminor = parsePaxUint(key, v); break;
        default:
          if (key.startsWith(XATTR)) {
            (xattrs ??= new Map()).set(key.slice(XATTR.length), v);
          } else if (key.startsWith("GNU.sparse.")) {
            throw new TarFormatError(`tar: GNU sparse entry "${name}" at offset ${at} is not supported`);
          } else if (!CONSUMED.has(key)) {
            (extra ??= new Map()).set(key, paxString(v));
          }
      }
    }
  }

  if (size < 0 || uid < 0 || gid < 0) {
    throw new TarFormatError(`tar: header at offset ${at} for "${name}" has a negative size, uid or gid`);
  }
  let type = TYPES[raw.typeflag];
  if (type === undefined) type = "file"; // POSIX: unknown typeflags read as regular files
  else if (raw.typeflag === 0 && name.endsWith("/")) type = "dir"; // v7 directory convention

  const header: TarHeader = { name, type, mode: raw.mode, uid, gid, size: type === "file" ? size : 0, mtime };
  if (uname !== undefined) header.uname = uname;
  if (gname !== undefined) header.gname = gname;
  if (atime !== undefined) header.atime = atime;
  if (ctime !== undefined) header.ctime = ctime;
  if (type === "symlink" || type === "hardlink") header.linkname = linkname;
  if (type === "char" || type === "block") {
    header.devmajor = devmajor;
    header.devminor = devminor;
  }
  if (xattrs) header.xattrs = xattrs;
  if (extra) header.pax = extra;
  return header;
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
