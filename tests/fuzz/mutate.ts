// A small deterministic mutator for the fuzz targets: a xorshift32 PRNG with a fixed seed, so a
// run is reproducible from (seed, iteration), and byte-level mutations that reach past the first
// check of a parser: bit flips, interesting bytes, truncation, splices of two inputs, duplicated
// or deleted ranges, numbers rewritten in place, and (for tar) size fields rewritten with the
// header checksum fixed up, so the lie reaches the reader instead of failing the checksum.
import { BLOCK, writeChecksum, writeOctal } from "../../src/tar/header.ts";
import { concatBytes } from "../../src/util/bytes.ts";

/** xorshift32 (Marsaglia): tiny, fast, and the same sequence on every runtime. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 ≤ n < max */
  below(max: number): number {
    return max <= 1 ? 0 : this.next() % max;
  }
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x30, 0x37, 0x38, 0x2f, 0x2e, 0x3d, 0x5c, 0x24, 0x22];
const NUMBERS = ["0", "1", "-1", "511", "512", "513", "4294967296", "9007199254740993", "99999999999999999999", "1e9", "0x10", "18446744073709551615", ""];

export type Mutation = (rng: Rng, input: Uint8Array, other: Uint8Array) => Uint8Array;

const flipBit: Mutation = (rng, b) => {
  const out = b.slice();
  if (out.length) out[rng.below(out.length)] ^= 1 << rng.below(8);
  return out;
};

const setByte: Mutation = (rng, b) => {
  const out = b.slice();
  const n = 1 + rng.below(4);
  for (let i = 0; i < n && out.length; i++) out[rng.below(out.length)] = rng.pick(INTERESTING);
  return out;
};

const truncate: Mutation = (rng, b) => b.slice(0, rng.below(b.length + 1));

const splice: Mutation = (rng, b, other) => {
  const cut = rng.below(b.length + 1);
  const from = rng.below(other.length + 1);
  return concatBytes([b.subarray(0, cut), other.subarray(from)]);
};

const duplicateRange: Mutation = (rng, b) => {
  if (!b.length) return b;
  const start = rng.below(b.length);
  const len = 1 + rng.below(Math.min(1024, b.length - start));
  const at = rng.below(b.length + 1);
  return concatBytes([b.subarray(0, at), b.subarray(start, start + len), b.subarray(at)]);
};

const deleteRange: Mutation = (rng, b) => {
  if (!b.length) return b;
  const start = rng.below(b.length);
  const len = 1 + rng.below(Math.min(1024, b.length - start));
  return concatBytes([b.subarray(0, start), b.subarray(start + len)]);
};

/** A run of ASCII digits somewhere in the input becomes another number (sizes, lengths, ports, modes). */
const rewriteNumber: Mutation = (rng, b) => {
  const starts: number[] = [];
  for (let i = 0; i < b.length; i++) if (isDigit(b[i]!) && (i === 0 || !isDigit(b[i - 1]!))) starts.push(i);
  if (!starts.length) return setByte(rng, b, b);
  const s = rng.pick(starts);
  let e = s;
  while (e < b.length && isDigit(b[e]!)) e++;
  const n = rng.chance(0.5) ? rng.pick(NUMBERS) : String(rng.next() % 100000);
  return concatBytes([b.subarray(0, s), new TextEncoder().encode(n), b.subarray(e)]);
};

export const BYTE_MUTATIONS: readonly Mutation[] = [flipBit, setByte, truncate, splice, duplicateRange, deleteRange, rewriteNumber];

/** Offsets of blocks that look like headers: "ustar" at 257, or (v7) an octal checksum field. */
function headerBlocks(b: Uint8Array): number[] {
  const out: number[] = [];
  const octalOrSpace = (c: number) => (c >= 0x30 && c <= 0x37) || c === 0x20;
  for (let off = 0; off + BLOCK <= b.length; off += BLOCK) {
    const ustar = b[off + 257] === 0x75 && b[off + 258] === 0x73 && b[off + 259] === 0x74 && b[off + 260] === 0x61 && b[off + 261] === 0x72;
    let v7 = b[off] !== 0 && (b[off + 154] === 0 || b[off + 154] === 0x20);
    for (let i = 148; i < 154 && v7; i++) v7 = octalOrSpace(b[off + i]!);
    if (ustar || v7) out.push(off);
  }
  return out;
}

/** Rewrite the size field (or another numeric field) of one header, then fix its checksum. */
const editTarField: Mutation = (rng, b) => {
  const heads = headerBlocks(b);
  if (!heads.length) return flipBit(rng, b, b);
  const out = b.slice();
  const off = rng.pick(heads);
  const block = out.subarray(off, off + BLOCK);
  const [at, len] = rng.pick([[124, 12], [124, 12], [124, 12], [100, 8], [108, 8], [116, 8], [136, 12], [329, 8], [337, 8]] as const);
  switch (rng.below(5)) {
    case 0: // plausible octal, often bigger than what follows
      writeOctal(block, at, len, rng.pick([0, 1, 511, 512, 513, 1 << 20, 2 ** 33 - 1, rng.next()]));
      break;
    case 1: // base-256, possibly negative or beyond 2^53
      block[at] = rng.chance(0.5) ? 0x80 : 0xff;
      for (let i = 1; i < len; i++) block[at + i] = rng.below(256);
      break;
    case 2: // not a number at all
      for (let i = 0; i < len; i++) block[at + i] = rng.pick(INTERESTING);
      break;
    case 3: // the type flag instead
      block[156] = rng.pick([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x4b, 0x4c, 0x53, 0x67, 0x78, 0x00, 0x41]);
      break;
    default: // all digits, no terminator
      for (let i = 0; i < len; i++) block[at + i] = 0x37;
  }
  writeChecksum(block);
  return out;
};

/** Recompute every header-looking block's checksum, so byte mutations get past the checksum test. */
export function fixChecksums(b: Uint8Array): Uint8Array {
  for (const off of headerBlocks(b)) writeChecksum(b.subarray(off, off + BLOCK));
  return b;
}

export const TAR_MUTATIONS: readonly Mutation[] = [...BYTE_MUTATIONS, editTarField, editTarField, editTarField];

/** One to four stacked mutations of `input`, `other` being a second seed for splices. */
export function mutate(rng: Rng, input: Uint8Array, other: Uint8Array, ops: readonly Mutation[]): Uint8Array {
  let out = input;
  const n = 1 + rng.below(4);
  for (let i = 0; i < n; i++) out = rng.pick(ops)(rng, out, other);
  return out;
}

/** Text mutations for the Dockerfile and lexer targets: tokens that steer the parser's branches. */
const TOKENS = [
  "\\\n", "\\", "`", "$", "${", "}", "${A:-", "${A:+x}", "${A#", "${A%%*}", "${A/x/y}", "$$", "'", '"', "<<EOF\n", "<<-EOF\n", "EOF\n",
  "\n", " ", "\t", "#", "# escape=`\n", "# syntax=x\n", "# check=skip=all\n", "[", "]", '["a", "b"]', ",", "=", "--mount=type=cache,target=/x ",
  "--from=0 ", "--platform=$BUILDPLATFORM ", "--chown=1:1 ", "--chmod=755 ", "AS x", "FROM scratch\n", "FROM a AS b\n", "ONBUILD ", "ARG A=1\n",
  "ENV A=b C=d\n", "RUN ", "COPY ", "ADD ", "HEALTHCHECK --interval=1s CMD x\n", "SHELL [\"/bin/sh\", \"-c\"]\n", "\u0000", "\ufeff", "é", "\r\n",
];

export function mutateText(rng: Rng, text: string, other: string): string {
  let out = text;
  const n = 1 + rng.below(4);
  for (let i = 0; i < n; i++) {
    const at = rng.below(out.length + 1);
    switch (rng.below(6)) {
      case 0:
        out = out.slice(0, at) + rng.pick(TOKENS) + out.slice(at);
        break;
      case 1: {
        const len = rng.below(Math.min(64, out.length - at) + 1);
        out = out.slice(0, at) + out.slice(at + len);
        break;
      }
      case 2: {
        const lines = out.split("\n");
        const o = other.split("\n");
        lines.splice(rng.below(lines.length + 1), 0, ...o.slice(rng.below(o.length), rng.below(o.length) + 1 + rng.below(4)));
        out = lines.join("\n");
        break;
      }
      case 3: {
        const lines = out.split("\n");
        const j = rng.below(lines.length);
        lines.splice(j, 0, lines[j] ?? "");
        out = lines.join("\n");
        break;
      }
      case 4:
        out = out.slice(0, at);
        break;
      default: // bytes, decoded back (invalid UTF-8 becomes U+FFFD, as reading a file would)
        out = new TextDecoder().decode(mutate(rng, new TextEncoder().encode(out), new TextEncoder().encode(other), BYTE_MUTATIONS));
    }
  }
  return out;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
