// A minimal streaming tar writer for docker-archive files: regular files only, names < 100
// bytes, sizes of any length (base-256 above 8 GiB). Layer tars are written elsewhere.
const BLOCK = 512;
const enc = new TextEncoder();

function octal(buf: Uint8Array, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, "0");
  buf.set(enc.encode(s), off);
  buf[off + len - 1] = 0;
}

export function fileHeader(name: string, size: number, mtime = 0): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const n = enc.encode(name);
  if (n.length > 100) throw new Error(`tar name too long: ${name}`);
  h.set(n, 0);
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size < 8 ** 11) octal(h, 124, 12, size);
  else {
    h[124] = 0x80; // GNU base-256 size
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h[156] = 0x30; // '0' regular file
  h.set(enc.encode("ustar\u000000"), 257);
  let sum = 0;
  for (const b of h) sum += b;
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

export function padding(size: number): Uint8Array {
  const r = size % BLOCK;
  return new Uint8Array(r === 0 ? 0 : BLOCK - r);
}

export const END_OF_ARCHIVE = new Uint8Array(BLOCK * 2);
