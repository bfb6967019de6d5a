// Content digests ("sha256:<hex>"): validation, hashing, and verification while streaming.
import { createHash, type Hash } from "node:crypto";
import { concatBytes } from "../util/bytes.ts";
import { KilnError } from "../util/errors.ts";

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const DIGEST_RE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** True for a well-formed digest with a known algorithm and lowercase hex of the right length. */
export function isDigest(s: string): boolean {
  const m = DIGEST_RE.exec(s);
  if (!m) return false;
  const len = HEX_LENGTH[m[1]!];
  return len !== undefined && m[2]!.length === len && /^[0-9a-f]+$/.test(m[2]!);
}

/** Throws a KilnError naming `what` when `s` is not a valid digest. */
export function checkDigest(s: string, what = "digest"): string {
  if (!isDigest(s)) throw new KilnError(`invalid ${what} "${s}": want sha256:<64 lowercase hex digits>`);
  return s;
}

export function digestAlgorithm(d: string): string {
  return d.slice(0, d.indexOf(":"));
}

/** The hex part of a digest (the file name under blobs/<alg>/ in an OCI layout). */
export function digestHex(d: string): string {
  return d.slice(d.indexOf(":") + 1);
}

export function sha256(data: Uint8Array | string): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

/** Incremental hasher for a digest's algorithm. */
export function hasherFor(digest: string): Hash {
  const alg = digestAlgorithm(digest);
  if (!HEX_LENGTH[alg]) throw new KilnError(`unsupported digest algorithm in "${digest}"`);
  return createHash(alg);
}

/**
 * Pass bytes through while hashing them; throws when the stream ends and the bytes do not
 * match `digest` (or `size`, when given). Nothing unverified is reported as complete.
 */
export async function* verifyStream(
  src: AsyncIterable<Uint8Array>,
  digest: string,
  size: number | undefined,
  where: string,
): AsyncGenerator<Uint8Array> {
  const h = hasherFor(digest);
  let n = 0;
  for await (const chunk of src) {
    n += chunk.length;
    if (size !== undefined && n > size) {
      throw new KilnError(`blob ${digest} from ${where}: more than the expected ${size} bytes`);
    }
    h.update(chunk);
    yield chunk;
  }
  if (size !== undefined && n !== size) {
    throw new KilnError(`blob ${digest} from ${where}: got ${n} bytes, expected ${size}`);
  }
  const got = `${digestAlgorithm(digest)}:${h.digest("hex")}`;
  if (got !== digest) throw new KilnError(`blob ${digest} from ${where}: content does not match its digest (got ${got})`);
}

/** Read a whole (small) stream into memory. */
export async function readAll(src: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of src) parts.push(c);
  return concatBytes(parts);
}
