// The canonical, length-framed byte encoding that cache keys hash (docs/cache.md, "Encoding").
// Every value carries a one-byte type tag and every variable-length part is a netstring, so no
// two different values encode to the same bytes and another implementation can reproduce them.
import { concatBytes } from "../util/bytes.ts";
import { KilnError } from "../util/errors.ts";

export type Canon = string | number | boolean | null | readonly Canon[] | { readonly [k: string]: Canon | undefined };

const enc = new TextEncoder();

/** Netstring: decimal byte length, ":", the bytes, ",". */
export function netstring(b: Uint8Array): Uint8Array {
  const head = enc.encode(`${b.length}:`);
  const out = new Uint8Array(head.length + b.length + 1);
  out.set(head, 0);
  out.set(b, head.length);
  out[out.length - 1] = 0x2c;
  return out;
}

/** Byte-wise comparison of UTF-8 encodings (not JS's UTF-16 order). */
export function compareUtf8(a: string, b: string): number {
  const x = enc.encode(a);
  const y = enc.encode(b);
  for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/**
 * s<ns> string, i<ns> integer (decimal), T / F booleans, z null, l<ns> list of encoded items,
 * m<ns> map: ns(key) + encoded value per key, keys in UTF-8 byte order, undefined values left out.
 */
export function encodeCanon(v: Canon): Uint8Array {
  if (v === null) return enc.encode("z");
  if (typeof v === "boolean") return enc.encode(v ? "T" : "F");
  if (typeof v === "string") return concatBytes([enc.encode("s"), netstring(enc.encode(v))]);
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new KilnError(`cache key: cannot encode non-integer number ${v}`);
    return concatBytes([enc.encode("i"), netstring(enc.encode(String(v)))]);
  }
  if (Array.isArray(v)) return concatBytes([enc.encode("l"), netstring(concatBytes((v as Canon[]).map(encodeCanon)))]);
  const obj = v as { [k: string]: Canon | undefined };
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareUtf8);
  const parts: Uint8Array[] = [];
  for (const k of keys) parts.push(netstring(enc.encode(k)), encodeCanon(obj[k]!));
  return concatBytes([enc.encode("m"), netstring(concatBytes(parts))]);
}
