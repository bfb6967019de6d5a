// Deterministic tar writer: ustar headers, plus a PAX 'x' header only for what ustar cannot hold.
// The PAX header block follows Python tarfile's conventions (name "././@PaxHeader", zeroed
// fields), so for entries Python can express our bytes equal Python's PAX_FORMAT output.
import { BLOCK, writeAscii, writeBase256, writeChecksum, writeOctal } from "./header.ts";
import { encodeRecord, formatTime } from "./pax.ts";
import type { TarEntryType, TarHeader } from "./types.ts";

export interface TarWriterOptions {
  /**
   * Pad the finished archive to a multiple of this many bytes. Default 512 (just the two end
   * blocks, like Go's archive/tar and Docker); GNU tar and Python use 10240.
   */
  recordSize?: number;
}

const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

const ZEROS = new Uint8Array(BLOCK * 20);
const OCTAL_12 = 8 ** 11; // limit of a 12-byte octal field
/** Bodies at least this big go to the sink as-is; smaller writes are coalesced (fewer sink calls). */
const PASS_THROUGH = 32 * 1024;
const COALESCE = 128 * 1024;

export class TarWriter {
  #sink: (chunk: Uint8Array) => void | Promise<void>;
  #recordSize: number;
  #buf = new Uint8Array(COALESCE);
  #len = 0;
  #written = 0;
  #busy = false;
  #finished = false;
  #failed: Error | null = null;

  constructor(sink: (chunk: Uint8Array) => void | Promise<void>, options: TarWriterOptions = {}) {
    this.#sink = sink;
    const rs = options.recordSize ?? BLOCK;
    if (!Number.isInteger(rs) || rs <= 0 || rs % BLOCK !== 0) {
      throw new Error(`tar: recordSize must be a positive multiple of ${BLOCK}, got ${rs}`);
    }
    this.#recordSize = rs;
  }

  /** Bytes of archive produced so far (handed to the sink or waiting in the coalescing buffer). */
  get bytesWritten(): number {
    return this.#written;
  }

  async add(header: TarHeader, body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    this.#enter();
    try {
      const size = header.type === "file" ? header.size : 0;
      if (header.type !== "file" && header.size !== 0) {
        throw new Error(`tar: ${header.type} "${header.name}" must have size 0, got ${header.size}`);
      }
      if (body instanceof Uint8Array && body.length !== size) {
        throw new Error(`tar: body of "${header.name}" is ${body.length} bytes but header.size is ${size}`);
      }
      if (body === undefined && size !== 0) {
        throw new Error(`tar: "${header.name}" has size ${size} but no body was given`);
      }
      await this.#put(encodeHeaders(header));
      let n = 0;
      if (body instanceof Uint8Array) {
        if (body.length) await this.#put(body);
        n = body.length;
      } else if (body !== undefined) {
        for await (const chunk of body) {
          n += chunk.length;
          if (n > size) throw new Error(`tar: body of "${header.name}" is longer than header.size ${size}`);
          if (chunk.length) await this.#put(chunk);
        }
      }
      if (n !== size) throw new Error(`tar: body of "${header.name}" is ${n} bytes but header.size is ${size}`);
      const p = (BLOCK - (size % BLOCK)) % BLOCK;
      if (p) await this.#put(ZEROS.subarray(0, p));
    } catch (e) {
      // Part of the entry may already be out; the archive cannot be continued safely.
      this.#failed = e as Error;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  async finish(): Promise<void> {
    this.#enter();
    try {
      let end = BLOCK * 2;
      const rem = (this.#written + end) % this.#recordSize;
      if (rem) end += this.#recordSize - rem;
      while (end > 0) {
        const n = Math.min(end, ZEROS.length);
        await this.#put(ZEROS.subarray(0, n));
        end -= n;
      }
      await this.#flush();
      this.#finished = true;
    } catch (e) {
      this.#failed = e as Error;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  #enter(): void {
    if (this.#failed) throw new Error(`tar: writer failed earlier: ${this.#failed.message}`);
    if (this.#finished) throw new Error("tar: writer is already finished");
    if (this.#busy) throw new Error("tar: add()/finish() called before the previous call resolved");
    this.#busy = true;
  }

  async #put(chunk: Uint8Array): Promise<void> {
    this.#written += chunk.length;
    if (chunk.length >= PASS_THROUGH) {
      await this.#flush();
      await this.#sink(chunk);
      return;
    }
    if (this.#len + chunk.length > COALESCE) await this.#flush();
    this.#buf.set(chunk, this.#len);
    this.#len += chunk.length;
  }

  async #flush(): Promise<void> {
    if (this.#len === 0) return;
    const out = this.#buf.subarray(0, this.#len);
    // The sink may keep the chunk, so never reuse a buffer we handed out.
    this.#buf = new Uint8Array(COALESCE);
    this.#len = 0;
    await this.#sink(out);
  }
}

/** Encodes the optional PAX header plus the ustar header of one entry. */
export function encodeHeaders(h: TarHeader): Uint8Array {
  const type = h.type;
  const flag = TYPEFLAG[type];
  if (flag === undefined) throw new Error(`tar: unknown entry type ${JSON.stringify(type)} for "${h.name}"`);
  if (typeof h.name !== "string" || h.name === "" || h.name.includes("\0")) {
    throw new Error(`tar: invalid entry name ${JSON.stringify(h.name)}`);
  }
  const name = type === "dir" && !h.name.endsWith("/") ? `${h.name}/` : h.name;
  checkUint("mode", h.mode, h.name);
  checkUint("uid", h.uid, h.name);
  checkUint("gid", h.gid, h.name);
  checkUint("size", h.size, h.name);
  if (!Number.isFinite(h.mtime)) throw new Error(`tar: mtime of "${h.name}" is not finite`);
  const linkname = type === "symlink" || type === "hardlink" ? h.linkname : "";
  if (typeof linkname !== "string" || (linkname === "" && (type === "symlink" || type === "hardlink"))) {
    throw new Error(`tar: ${type} "${h.name}" needs a linkname`);
  }

  const b = new Uint8Array(BLOCK);
  // Records in a fixed order: atime, ctime, xattrs (sorted), other PAX (sorted), then the
  // overflowing ustar fields in Python's order. Python puts caller-given records first too.
  const records: Uint8Array[] = [];
  if (h.atime !== undefined) records.push(encodeRecord("atime", formatTime(h.atime)));
  if (h.ctime !== undefined) records.push(encodeRecord("ctime", formatTime(h.ctime)));
  if (h.xattrs) {
    for (const k of [...h.xattrs.keys()].sort()) records.push(encodeRecord(`SCHILY.xattr.${k}`, h.xattrs.get(k)!));
  }
  if (h.pax) {
    for (const k of [...h.pax.keys()].sort()) {
      if (!OWN_KEYS.has(k) && !k.startsWith("SCHILY.xattr.")) records.push(encodeRecord(k, h.pax.get(k)!));
    }
  }

  // name: ustar name, else ustar prefix + name, else PAX path.
  if (isAscii(name) && name.length <= 100) writeAscii(b, 0, 100, name);
  else {
    const split = isAscii(name) ? splitPrefix(name) : null;
    if (split) {
      writeAscii(b, 345, 155, split[0]);
      writeAscii(b, 0, 100, split[1]);
    } else {
      records.push(encodeRecord("path", name));
      writeAscii(b, 0, 100, asciiReplace(name));
    }
  }
  if (isAscii(linkname) && linkname.length <= 100) writeAscii(b, 157, 100, linkname);
  else {
    records.push(encodeRecord("linkpath", linkname));
    writeAscii(b, 157, 100, asciiReplace(linkname));
  }
  for (const [key, off, value] of [
    ["uname", 265, h.uname ?? ""],
    ["gname", 297, h.gname ?? ""],
  ] as const) {
    if (isAscii(value) && value.length <= 32) writeAscii(b, off, 32, value);
    else {
      records.push(encodeRecord(key, value));
      writeAscii(b, off, 32, asciiReplace(value));
    }
  }

  writeOctal(b, 100, 8, h.mode & 0o7777);
  if (!writeOctal(b, 108, 8, h.uid)) {
    records.push(encodeRecord("uid", String(h.uid)));
    writeOctal(b, 108, 8, 0);
  }
  if (!writeOctal(b, 116, 8, h.gid)) {
    records.push(encodeRecord("gid", String(h.gid)));
    writeOctal(b, 116, 8, 0);
  }
  const size = type === "file" ? h.size : 0;
  if (!writeOctal(b, 124, 12, size)) {
    records.push(encodeRecord("size", String(size)));
    writeOctal(b, 124, 12, 0);
  }
  const mt = h.mtime;
  const mtInt = Number.isInteger(mt) ? mt : roundHalfEven(mt);
  if (mtInt < 0 || mtInt >= OCTAL_12) {
    records.push(encodeRecord("mtime", formatTime(mt)));
    writeOctal(b, 136, 12, 0);
  } else {
    if (mtInt !== mt) records.push(encodeRecord("mtime", formatTime(mt)));
    writeOctal(b, 136, 12, mtInt);
  }
  b[156] = flag;
  writeAscii(b, 257, 8, "ustar\x0000");
  if (type === "char" || type === "block") {
    for (const [key, off] of [
      ["devmajor", 329],
      ["devminor", 337],
    ] as const) {
      const v = h[key] ?? 0;
      checkUint(key, v, h.name);
      if (!writeOctal(b, off, 8, v)) writeBase256(b, off, 8, v);
    }
  }
  writeChecksum(b);

  if (records.length === 0) return b;
  let paxLen = 0;
  for (const r of records) paxLen += r.length;
  const paxPad = (BLOCK - (paxLen % BLOCK)) % BLOCK;
  const out = new Uint8Array(BLOCK + paxLen + paxPad + BLOCK);
  const ph = out.subarray(0, BLOCK);
  writeAscii(ph, 0, 100, "././@PaxHeader");
  writeOctal(ph, 100, 8, 0);
  writeOctal(ph, 108, 8, 0);
  writeOctal(ph, 116, 8, 0);
  writeOctal(ph, 124, 12, paxLen);
  writeOctal(ph, 136, 12, 0);
  ph[156] = 0x78; // 'x'
  writeAscii(ph, 257, 8, "ustar\x0000");
  writeChecksum(ph);
  let pos = BLOCK;
  for (const r of records) {
    out.set(r, pos);
    pos += r.length;
  }
  out.set(b, BLOCK + paxLen + paxPad);
  return out;
}

/** PAX keys the writer derives from TarHeader fields; stale copies in header.pax are ignored. */
const OWN_KEYS = new Set(["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"]);

function checkUint(field: string, v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`tar: ${field} of "${name}" must be a non-negative integer, got ${v}`);
}

/** ustar prefix/name split at a '/', both parts non-empty, as POSIX and Python do it. */
function splitPrefix(name: string): [string, string] | null {
  if (name.length > 256) return null;
  let i = name.indexOf("/");
  while (i >= 0) {
    if (i > 155) return null;
    const rest = name.length - i - 1;
    if (i > 0 && rest > 0 && rest <= 100) return [name.slice(0, i), name.slice(i + 1)];
    i = name.indexOf("/", i + 1);
  }
  return null;
}

/** Only ASCII without NUL: what fits a ustar field as it is. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}

/** What Python writes in ustar fields that overflow into PAX: ASCII with '?' per non-ASCII char. */
function asciiReplace(s: string): string {
  if (isAscii(s)) return s;
  let out = "";
  for (const ch of s) out += ch.charCodeAt(0) < 0x80 && ch !== "\0" ? ch : "?";
  return out;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
