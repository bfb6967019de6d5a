// The 512-byte ustar header block: field layout, numeric codecs (octal and GNU base-256),
// checksum. Byte-level loops here only ever touch one 512-byte block, never file bodies.
import { TarFormatError } from "./errors.ts";

export const BLOCK = 512;

export type Magic = "ustar" | "gnu" | "v7";

/** A header block decoded field by field, before PAX / GNU long-name resolution. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: string;
  magic: Magic;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  prefix: string;
}

const utf8 = new TextDecoder("utf-8");

/** NUL-terminated string field. Pure-ASCII fields (nearly all) skip TextDecoder. */
export function readString(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const max = off + len;
  let ascii = true;
  while (end < max && b[end] !== 0) {
    if (b[end]! > 0x7f) ascii = false;
    end++;
  }
  if (end === off) return "";
  if (ascii && end - off <= 64) return String.fromCharCode.apply(null, b.subarray(off, end) as unknown as number[]);
  return utf8.decode(b.subarray(off, end));
}

/** Octal (space/NUL terminated, leading spaces allowed) or GNU base-256 numeric field. */
export function readNumber(b: Uint8Array, off: number, len: number, field: string): number {
  const first = b[off]!;
  if (first & 0x80) return readBase256(b, off, len, field);
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x37) v = v * 8 + (c - 0x30);
    else if (c === 0 || c === 0x20) break;
    else throw new TarFormatError(`tar: invalid octal digit 0x${c.toString(16)} in ${field} field`);
  }
  return v;
}

function readBase256(b: Uint8Array, off: number, len: number, field: string): number {
  // 0x80 = positive, 0xff = negative two's complement (GNU / star convention).
  let v = BigInt(b[off]! & 0x7f);
  for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(b[i]!);
  if (b[off] === 0xff) v -= 1n << BigInt(len * 8 - 1);
  else if (b[off] !== 0x80) throw new TarFormatError(`tar: invalid base-256 marker in ${field} field`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new TarFormatError(`tar: ${field} field ${v} is out of range`);
  }
  return Number(v);
}

/**
 * Checks the header checksum. Returns false for an all-zero block (end-of-archive marker),
 * true for a valid header, and throws on a checksum mismatch.
 */
export function verifyChecksum(b: Uint8Array, offset: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  // The checksum field counted as spaces adds 256; an all-zero block sums to exactly that.
  if (unsigned === 256) {
    let zero = true;
    for (let i = 148; i < 156; i++) if (b[i] !== 0) zero = false;
    if (zero) return false;
  }
  let stored: number;
  try {
    stored = readNumber(b, 148, 8, "checksum");
  } catch {
    stored = -1;
  }
  // Some historic tars summed signed chars; accept both like GNU tar and Python.
  if (stored !== unsigned && stored !== signed) {
    throw new TarFormatError(
      `tar: bad header checksum at offset ${offset} (stored ${stored}, computed ${unsigned}); the archive is corrupt or not a tar file`,
    );
  }
  return true;
}

function magicOf(b: Uint8Array): Magic {
  if (b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72) {
    // "ustar\0" + "00" is POSIX; "ustar " + " \0" is old GNU (no prefix field).
    if (b[262] === 0) return "ustar";
    if (b[262] === 0x20) return "gnu";
  }
  return "v7";
}

export function parseHeader(b: Uint8Array): RawHeader {
  const magic = magicOf(b);
  const hasExt = magic !== "v7";
  return {
    name: readString(b, 0, 100),
    mode: readNumber(b, 100, 8, "mode") & 0o7777,
    uid: readNumber(b, 108, 8, "uid"),
    gid: readNumber(b, 116, 8, "gid"),
    size: readNumber(b, 124, 12, "size"),
    mtime: readNumber(b, 136, 12, "mtime"),
    typeflag: b[156]!,
    linkname: readString(b, 157, 100),
    magic,
    uname: hasExt ? readString(b, 265, 32) : "",
    gname: hasExt ? readString(b, 297, 32) : "",
    devmajor: hasExt ? readNumber(b, 329, 8, "devmajor") : 0,
    devminor: hasExt ? readNumber(b, 337, 8, "devminor") : 0,
    // GNU format reuses the prefix area for atime/ctime/sparse data.
    prefix: magic === "ustar" ? readString(b, 345, 155) : "",
  };
}

// ---- encoding ----

/** Writes `value` as zero-padded octal with a NUL terminator; returns false if it does not fit. */
export function writeOctal(b: Uint8Array, off: number, len: number, value: number): boolean {
  const digits = len - 1;
  if (!(value >= 0) || value >= 8 ** digits) return false;
  let v = value;
  for (let i = off + digits - 1; i >= off; i--) {
    b[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  b[off + digits] = 0;
  return true;
}

/** GNU base-256 (non-negative values only), for device numbers beyond 7 octal digits. */
export function writeBase256(b: Uint8Array, off: number, len: number, value: number): void {
  let v = BigInt(value);
  for (let i = off + len - 1; i > off; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new Error(`tar: value ${value} does not fit in a ${len}-byte numeric field`);
  b[off] = 0x80;
}

/** Copies ASCII `s` into the field (caller guarantees it is ASCII and fits). */
export function writeAscii(b: Uint8Array, off: number, len: number, s: string): void {
  const n = Math.min(s.length, len);
  for (let i = 0; i < n; i++) b[off + i] = s.charCodeAt(i);
}

/** Fills the checksum field ("%06o\0 ", as GNU tar and Python write it). */
export function writeChecksum(b: Uint8Array): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  writeOctal(b, 148, 7, sum);
  b[155] = 0x20;
}
