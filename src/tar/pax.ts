// PAX extended header records: "<len> <key>=<value>\n", where len counts the whole record in
// bytes. Values stay raw bytes until we know the key, because SCHILY.xattr.* values are binary.
import { TarFormatError } from "./errors.ts";

/** Largest PAX or GNU long-name payload we accept (Go's archive/tar uses the same 1 MiB cap). */
export const MAX_META_SIZE = 1 << 20;

const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

export type PaxRecords = Map<string, Uint8Array>;

export function parsePax(data: Uint8Array, offset: number): PaxRecords {
  const out: PaxRecords = new Map();
  let pos = 0;
  const bad = (why: string) =>
    new TarFormatError(`tar: malformed PAX record at byte ${pos} of the extended header at offset ${offset}: ${why}`);
  while (pos < data.length) {
    // Trailing NUL padding after the last record is tolerated (some writers pad).
    if (data[pos] === 0) break;
    let len = 0;
    let i = pos;
    while (i < data.length && data[i]! >= 0x30 && data[i]! <= 0x39) {
      len = len * 10 + (data[i]! - 0x30);
      if (len > data.length) throw bad(`record length runs past the header (${data.length} bytes)`);
      i++;
    }
    if (i === pos || data[i] !== 0x20) throw bad("expected '<decimal length> '");
    const end = pos + len;
    if (len < 5 || end > data.length) throw bad(`record length ${len} runs past the header (${data.length} bytes)`);
    if (data[end - 1] !== 0x0a) throw bad(`record length ${len} does not end at a newline`);
    const eq = data.indexOf(0x3d, i + 1);
    if (eq < 0 || eq >= end - 1) throw bad("missing '='");
    const key = utf8.decode(data.subarray(i + 1, eq));
    if (key === "") throw bad("empty keyword");
    // Copy so the entry does not pin the (possibly large) source chunk.
    out.set(key, data.slice(eq + 1, end - 1));
    pos = end;
  }
  return out;
}

export function paxString(v: Uint8Array): string {
  return utf8.decode(v);
}

/** One encoded record; the length prefix counts its own digits. */
export function encodeRecord(key: string, value: string | Uint8Array): Uint8Array {
  const k = encoder.encode(key);
  const v = typeof value === "string" ? encoder.encode(value) : value;
  const base = k.length + v.length + 3; // ' ' '=' '\n'
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  const head = encoder.encode(`${len} `);
  const out = new Uint8Array(len);
  out.set(head, 0);
  out.set(k, head.length);
  out[head.length + k.length] = 0x3d;
  out.set(v, head.length + k.length + 1);
  out[len - 1] = 0x0a;
  return out;
}

/** Decimal for PAX time records: plain notation, never exponent form. */
export function formatTime(t: number): string {
  if (!Number.isFinite(t)) throw new Error(`tar: time ${t} is not finite`);
  if (Number.isInteger(t)) return String(t);
  const s = String(t);
  if (!s.includes("e")) return s;
  return t.toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
}

const TIME_RE = /^-?\d+(\.\d+)?$/;
const UINT_RE = /^\d+$/;

export function parsePaxTime(key: string, v: Uint8Array): number {
  const s = paxString(v);
  if (!TIME_RE.test(s)) throw new TarFormatError(`tar: PAX ${key}=${JSON.stringify(s)} is not a decimal time`);
  return Number(s);
}

export function parsePaxUint(key: string, v: Uint8Array): number {
  const s = paxString(v);
  if (!UINT_RE.test(s)) throw new TarFormatError(`tar: PAX ${key}=${JSON.stringify(s)} is not a non-negative integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`tar: PAX ${key}=${s} is out of range`);
  return n;
}
