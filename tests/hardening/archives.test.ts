// Hostile and malformed tarballs, generated here, each applied twice: as a base-image layer
// (applyLayer) and as a local archive for ADD (copyInto → extractTar). Nothing may appear, change
// or vanish outside the rootfs: a canary directory next to it (also named by absolute host paths in
// the archives) and the context must be unchanged. Every case ends in a KilnError naming the
// archive, or in a documented outcome. tests/fs/hostile.test.ts covers the basic layer cases.
// Every case runs on Bun (in this process) and on Deno (tests/hardening/fixtures/apply-archive.ts);
// the CLI cases at the end run in every form kiln ships in, the compiled executable included.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import zlib from "node:zlib";
import { applyLayer } from "../../src/fs/unpack.ts";
import { copyInto } from "../../src/executor/copy/index.ts";
import { TarWriter } from "../../src/tar/writer.ts";
import { BLOCK, writeAscii, writeChecksum, writeOctal } from "../../src/tar/header.ts";
import { encodeRecord } from "../../src/tar/pax.ts";
import { DEFAULT_MAX_UNPACKED, maxUnpackedSize } from "../../src/fs/compression.ts";
import { KilnError } from "../../src/util/errors.ts";
import { captureTree, diffTrees } from "../fs/tree.ts";
import { FORMS, kilnArgv, kilnIn } from "./forms.ts";
import { tarOf } from "./tar-of.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-hard-arch-`);
fs.chmodSync(work, 0o755);
const rootfs = `${work}/rootfs`;
const canary = `${work}/canary`;
const ctx = `${work}/ctx`;
// Layer files for the Deno child, outside `work` (whose listing is checked).
const scratch = fs.mkdtempSync(`${os.tmpdir()}/kiln-hard-arch-tars-`);
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

// ---- building tarballs ----

const enc = (s: string | Uint8Array) => (typeof s === "string" ? new TextEncoder().encode(s) : s);


/** One raw ustar header block; `size` may lie, `sizeField` overrides the encoded size bytes. */
function rawHeader(o: { name: string; type?: string; size?: number; sizeField?: Uint8Array; linkname?: string }): Uint8Array {
  const b = new Uint8Array(BLOCK);
  writeAscii(b, 0, 100, o.name);
  writeOctal(b, 100, 8, 0o644);
  writeOctal(b, 108, 8, 0);
  writeOctal(b, 116, 8, 0);
  if (o.sizeField) b.set(o.sizeField, 124);
  else writeOctal(b, 124, 12, o.size ?? 0);
  writeOctal(b, 136, 12, 1_700_000_000);
  b[156] = (o.type ?? "0").charCodeAt(0);
  if (o.linkname) writeAscii(b, 157, 100, o.linkname);
  writeAscii(b, 257, 8, "ustar\x0000");
  writeChecksum(b);
  return b;
}

const padded = (data: Uint8Array) => Buffer.concat([data, new Uint8Array((BLOCK - (data.length % BLOCK)) % BLOCK)]);
const END = new Uint8Array(2 * BLOCK);

/** A PAX 'x' header with the given records (raw strings), then `next`. */
function paxThen(records: Uint8Array, next: Uint8Array): Uint8Array {
  return Buffer.concat([rawHeader({ name: "././@PaxHeader", type: "x", size: records.length }), padded(records), next]);
}

const gzip = (b: Uint8Array, level = 6) => new Uint8Array(zlib.gzipSync(b, { level }));

/** Incompressible but reproducible bytes (an LCG), so a gzip stream is as long as its input. */
function noise(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

// ---- applying them ----

type Target = "layer" | "add";
interface Outcome {
  error?: unknown;
}

type Runtime = "bun" | "deno";
const DENO = path.join(import.meta.dir, "..", "..", "node_modules", ".bin", "deno");
const FIXTURE = path.join(import.meta.dir, "fixtures", "apply-archive.ts");

async function applyTo(target: Target, bytes: Uint8Array, runtime: Runtime = "bun"): Promise<Outcome> {
  if (runtime === "deno") {
    const layer = `${scratch}/layer.tar`;
    if (target === "layer") fs.writeFileSync(layer, bytes);
    else fs.writeFileSync(`${ctx}/evil.tar`, bytes);
    const r = spawnSync(DENO, ["run", "-A", FIXTURE, target, rootfs, ctx, layer], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`deno fixture exited ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { error?: { kiln: boolean; message: string } };
    return out.error ? { error: out.error.kiln ? new KilnError(out.error.message) : new Error(out.error.message) } : {};
  }
  try {
    if (target === "layer") {
      await applyLayer(rootfs, (async function* () { yield bytes; })(), { mediaType: "application/vnd.oci.image.layer.v1.tar", source: "sha256:hostile", onWarning: () => {} });
    } else {
      fs.writeFileSync(`${ctx}/evil.tar`, bytes);
      await copyInto({ rootfs, sourceRoot: ctx, sources: ["evil.tar"], dest: "/", workdir: "/", isAdd: true });
    }
    return {};
  } catch (error) {
    return { error };
  }
}

let before: { canary: ReturnType<typeof captureTree>; ctx: ReturnType<typeof captureTree> };
beforeEach(() => {
  for (const d of [rootfs, canary, ctx]) fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(`${rootfs}/etc`, { recursive: true });
  fs.writeFileSync(`${rootfs}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  fs.mkdirSync(`${canary}/sub`, { recursive: true });
  fs.writeFileSync(`${canary}/secret`, "do not touch");
  fs.mkdirSync(ctx);
  before = { canary: captureTree(canary, { mtimes: true }), ctx: captureTree(ctx, { mtimes: true }) };
});

function expectOutsideUntouched(): void {
  expect(diffTrees(before.canary, captureTree(canary, { mtimes: true }))).toEqual([]);
  const ctxNow = captureTree(ctx, { mtimes: true, skip: (p) => p === "evil.tar" });
  expect(diffTrees(before.ctx, ctxNow)).toEqual([]);
  expect(fs.readdirSync(work).sort()).toEqual(["canary", "ctx", "rootfs"]);
}

const named = { layer: /layer sha256:hostile/, add: /ADD "evil\.tar"/ };

function expectError(target: Target, r: Outcome, pattern: RegExp): void {
  expect(r.error).toBeInstanceOf(KilnError);
  const msg = (r.error as Error).message;
  expect(msg).toMatch(pattern);
  // The message names the archive (resolver errors from inside an ADD say where they resolve).
  if (!/cannot resolve|too many levels/.test(msg)) expect(msg).toMatch(named[target]);
}

const exists = (p: string) => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

const up = () => "../".repeat(12) + canary.slice(1);

// ---- the corpus ----

interface Case {
  name: string;
  tar: () => Uint8Array | Promise<Uint8Array>;
  setup?: () => void;
  /** Checks after the outcome; both targets unless `add` differs. */
  layer: (r: Outcome) => void;
  add?: (r: Outcome) => void;
}

const err = (pattern: RegExp) => ({
  layer: (r: Outcome) => expectError("layer", r, pattern),
  add: (r: Outcome) => expectError("add", r, pattern),
});
const ok = (check: () => void) => (r: Outcome) => {
  expect(r.error).toBeUndefined();
  check();
};

const cases: Case[] = [
  { name: "../../x is refused", tar: () => tarOf([{ name: "../../canary/secret", body: "pwned" }]), ...err(/climbs out/) },
  { name: "a/../../x is refused", tar: () => tarOf([{ name: "etc/../../canary/new", body: "pwned" }]), ...err(/climbs out/) },
  {
    name: "absolute names land inside",
    tar: () => tarOf([{ name: `${canary}/secret`, body: "inside" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("inside")),
  },
  {
    name: "absolute symlink, then files written through it",
    tar: () => tarOf([{ name: "a", type: "symlink", linkname: canary }, { name: "a/secret", body: "pwned" }, { name: "a/sub/x", body: "pwned" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}${canary}/sub/x`, "utf8")).toBe("pwned")),
  },
  {
    name: "relative symlink climbing with ../ is clamped",
    tar: () => tarOf([{ name: "etc/up", type: "symlink", linkname: up() }, { name: "etc/up/secret", body: "pwned" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("pwned")),
  },
  {
    name: "symlink chain ending outside resolves inside",
    tar: () => tarOf([
      { name: "c", type: "symlink", linkname: up() },
      { name: "b", type: "symlink", linkname: "c/sub" },
      { name: "etc/a", type: "symlink", linkname: "../b" },
      { name: "etc/a/new", body: "pwned" },
    ]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}${canary}/sub/new`, "utf8")).toBe("pwned")),
  },
  {
    name: "two-link symlink loop",
    tar: () => tarOf([{ name: "x", type: "symlink", linkname: "y" }, { name: "y", type: "symlink", linkname: "/x" }, { name: "x/f", body: "" }]),
    ...err(/too many levels of symlinks/),
  },
  { name: "self-referencing symlink", tar: () => tarOf([{ name: "x", type: "symlink", linkname: "./x" }, { name: "x/f", body: "" }]), ...err(/too many levels of symlinks/) },
  {
    name: "symlink to a file used as a directory",
    tar: () => tarOf([{ name: "f", body: "file" }, { name: "l", type: "symlink", linkname: "f" }, { name: "l/x", body: "" }]),
    ...err(/not a directory/),
  },
  {
    name: "an existing symlink in the rootfs is replaced, not written through",
    setup: () => fs.symlinkSync(`${canary}/secret`, `${rootfs}/etc/shadow`),
    tar: () => tarOf([{ name: "etc/shadow", body: "root:!:" }]),
    layer: ok(() => expect(fs.lstatSync(`${rootfs}/etc/shadow`).isFile()).toBe(true)),
  },
  { name: "hardlink to ../ outside", tar: () => tarOf([{ name: "h", type: "hardlink", linkname: "../canary/secret" }]), ...err(/climbs out/) },
  {
    name: "hardlink to an absolute host path (absent in the rootfs)",
    tar: () => tarOf([{ name: "h", type: "hardlink", linkname: `${canary}/secret` }]),
    ...err(/does not exist|missing/),
  },
  { name: "hardlink to a missing target", tar: () => tarOf([{ name: "h", type: "hardlink", linkname: "nope" }]), ...err(/does not exist|missing/) },
  {
    name: "hardlink through a symlink to outside",
    tar: () => tarOf([{ name: "s", type: "symlink", linkname: canary }, { name: "h", type: "hardlink", linkname: "s/secret" }]),
    ...err(/does not exist|missing/),
  },
  { name: "hardlink to a directory", tar: () => tarOf([{ name: "d", type: "dir", mode: 0o755 }, { name: "h", type: "hardlink", linkname: "d" }]), ...err(/directory/) },
  {
    name: "hardlink to a symlink pointing outside links the symlink itself",
    tar: () => tarOf([{ name: "s", type: "symlink", linkname: `${canary}/secret` }, { name: "h", type: "hardlink", linkname: "s" }, { name: "h2", body: "x" }]),
    layer: ok(() => expect(fs.lstatSync(`${rootfs}/h`).isSymbolicLink()).toBe(true)),
  },
  {
    name: "a file entry over a hardlinked file breaks the link",
    setup: () => fs.linkSync(`${rootfs}/etc/passwd`, `${rootfs}/h`),
    tar: () => tarOf([{ name: "h", body: "pwned" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}/etc/passwd`, "utf8")).toStartWith("root:x")),
  },
  {
    name: "whiteout ../.wh.x",
    tar: () => tarOf([{ name: "../.wh.canary" }]),
    ...err(/climbs out/),
  },
  {
    name: "whiteout .wh. with an empty name on /",
    tar: () => tarOf([{ name: ".wh." }]),
    layer: (r) => expectError("layer", r, /invalid whiteout/),
    // ADD (like Docker) has no whiteouts: the name is a plain file.
    add: ok(() => expect(exists(`${rootfs}/.wh.`)).toBe(true)),
  },
  {
    name: "whiteout of .. (.wh...)",
    tar: () => tarOf([{ name: "etc/.wh..." }]),
    layer: (r) => expectError("layer", r, /invalid whiteout/),
    add: ok(() => expect(exists(`${rootfs}/etc/.wh...`)).toBe(true)),
  },
  {
    name: "opaque marker on / empties the rootfs only",
    tar: () => tarOf([{ name: "kept", body: "k" }, { name: ".wh..wh..opq" }]),
    layer: ok(() => expect(fs.readdirSync(rootfs)).toEqual(["kept"])),
    add: ok(() => expect(fs.readdirSync(rootfs).sort()).toEqual([".wh..wh..opq", "etc", "kept"])),
  },
  {
    name: "opaque marker below a file",
    tar: () => tarOf([{ name: "f", body: "f" }, { name: "f/.wh..wh..opq" }]),
    ...err(/not a directory/),
  },
  {
    name: "opaque marker as a directory entry, under a symlink to outside",
    tar: () => tarOf([{ name: "s", type: "symlink", linkname: canary }, { name: "s/.wh..wh..opq/", type: "dir", mode: 0o777 }, { name: "s/.wh.secret", type: "dir" }]),
    layer: ok(() => {}),
    add: ok(() => expect(fs.lstatSync(`${rootfs}${canary}/.wh..wh..opq`).isDirectory()).toBe(true)),
  },
  {
    name: "device nodes (root) are created inside the rootfs only",
    tar: () => tarOf([
      { name: "dev/sda", type: "block", mode: 0o666, devmajor: 8, devminor: 0 },
      { name: "s", type: "symlink", linkname: canary },
      { name: "s/mem", type: "char", mode: 0o666, devmajor: 1, devminor: 1 },
    ]),
    layer: ok(() => {
      expect(fs.lstatSync(`${rootfs}/dev/sda`).isBlockDevice()).toBe(process.getuid!() === 0);
      expect(exists(`${canary}/mem`)).toBe(false);
    }),
  },
  {
    name: "a NUL byte inside a PAX path",
    tar: () => paxThen(encodeRecord("path", "etc/pass\u0000wd"), Buffer.concat([rawHeader({ name: "placeholder", size: 5 }), padded(enc("pwned")), END])),
    ...err(/cannot extract|null|NUL|invalid/i),
  },
  {
    name: "newlines and control characters in names are plain names",
    tar: () => tarOf([{ name: "a\nb\r\u0001", body: "x" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}/a\nb\r\u0001`, "utf8")).toBe("x")),
  },
  { name: "a 300-byte path component", tar: () => tarOf([{ name: "d/" + "n".repeat(300), body: "x" }]), ...err(/ENAMETOOLONG|name too long/i) },
  {
    name: "a 5000-byte path",
    tar: () => tarOf([{ name: Array(100).fill("d".repeat(49)).join("/") + "/f", body: "x" }]),
    ...err(/ENAMETOOLONG|name too long/i),
  },
  {
    name: "PAX size far larger than the archive",
    tar: () => paxThen(encodeRecord("size", "1000000000000000"), Buffer.concat([rawHeader({ name: "big" }), padded(enc("tiny")), END])),
    ...err(/truncated/),
  },
  { name: "PAX negative size", tar: () => paxThen(encodeRecord("size", "-512"), Buffer.concat([rawHeader({ name: "neg" }), END])), ...err(/not a non-negative integer/) },
  {
    name: "base-256 negative size field",
    tar: () => Buffer.concat([rawHeader({ name: "neg", sizeField: Uint8Array.from([0xff, ...Array(11).fill(0xff)]) }), END]),
    ...err(/negative size/),
  },
  {
    name: "PAX header claiming 4 GiB",
    tar: () => Buffer.concat([rawHeader({ name: "././@PaxHeader", type: "x", size: 4 * 2 ** 30 }), END]),
    ...err(/extended header .* claims/),
  },
  { name: "malformed PAX record", tar: () => paxThen(enc("99 path=x\n"), Buffer.concat([rawHeader({ name: "f" }), END])), ...err(/malformed PAX record/) },
  {
    name: "bad checksum after a good entry",
    tar: async () => {
      const t = await tarOf([{ name: "ok", body: "1" }, { name: "bad", body: "2" }]);
      t[1024 + 10] ^= 0xff;
      return t;
    },
    ...err(/bad header checksum/),
  },
  {
    name: "truncated gzip",
    tar: async () => {
      const gz = gzip(await tarOf([{ name: "f", body: noise(200_000) }]));
      return gz.subarray(0, Math.floor(gz.length * 0.6));
    },
    ...err(/decompress|truncated|unexpected end/i),
  },
  {
    name: "gzip with a corrupted body",
    tar: async () => {
      const gz = gzip(await tarOf([{ name: "f", body: noise(100_000) }]));
      expect(gz.length).toBeGreaterThan(90_000);
      for (let i = 50_000; i < 50_100; i++) gz[i] ^= 0x5a;
      return gz;
    },
    ...err(/decompress|checksum|invalid/i),
  },
  {
    name: "garbage after the end-of-archive marker is ignored",
    tar: async () => Buffer.concat([await tarOf([{ name: "f", body: "x" }]), enc("GARBAGE".repeat(100))]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}/f`, "utf8")).toBe("x")),
  },
  {
    // Go's multistream gzip reader (containerd, Docker) fails the same way. For ADD the sniff
    // already fails, so (as in Docker) the file is not an archive and is copied as it is.
    name: "garbage after the gzip stream",
    tar: async () => Buffer.concat([gzip(await tarOf([{ name: "f", body: "x" }])), enc("GARBAGE".repeat(100))]),
    layer: (r) => expectError("layer", r, /cannot decompress gzip stream/),
    add: ok(() => {
      expect(exists(`${rootfs}/f`)).toBe(false);
      expect(fs.statSync(`${rootfs}/evil.tar`).size).toBeGreaterThan(700);
    }),
  },
  {
    name: "duplicate entries: the last one wins",
    tar: () => tarOf([{ name: "f", body: "one" }, { name: "f", body: "two", mode: 0o600 }, { name: "d", type: "dir", mode: 0o700 }, { name: "d", type: "dir", mode: 0o755 }]),
    layer: ok(() => {
      expect(fs.readFileSync(`${rootfs}/f`, "utf8")).toBe("two");
      expect(fs.statSync(`${rootfs}/d`).mode & 0o777).toBe(0o755);
    }),
  },
  {
    name: "a file replaces a populated directory",
    tar: () => tarOf([{ name: "d/x/y", body: "y" }, { name: "d", body: "now a file" }]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}/d`, "utf8")).toBe("now a file")),
  },
  {
    name: "a directory replaces a file, a symlink replaces a directory",
    tar: () => tarOf([
      { name: "f", body: "f" },
      { name: "f", type: "dir", mode: 0o755 },
      { name: "d/x", body: "x" },
      { name: "d", type: "symlink", linkname: canary },
      { name: "d/secret", body: "pwned" },
    ]),
    layer: ok(() => {
      expect(fs.lstatSync(`${rootfs}/f`).isDirectory()).toBe(true);
      expect(fs.readFileSync(`${rootfs}${canary}/secret`, "utf8")).toBe("pwned");
    }),
  },
  {
    name: "unknown typeflag reads as a regular file",
    tar: () => Buffer.concat([rawHeader({ name: "odd", type: "Z", size: 3 }), padded(enc("abc")), END]),
    layer: ok(() => expect(fs.readFileSync(`${rootfs}/odd`, "utf8")).toBe("abc")),
  },
  {
    name: "GNU sparse entries are refused",
    tar: () => Buffer.concat([rawHeader({ name: "sparse", type: "S" }), END]),
    ...err(/sparse.*not supported/),
  },
];

describe("hostile archives stay inside the rootfs", () => {
  for (const runtime of ["bun", "deno"] as const) {
    for (const c of cases) {
      for (const target of ["layer", "add"] as const) {
        test(`${target} (${runtime}): ${c.name}`, async () => {
          c.setup?.();
          const r = await applyTo(target, await c.tar(), runtime);
          (target === "add" && c.add ? c.add : c.layer)(r);
          expectOutsideUntouched();
        }, 60_000);
      }
    }
  }
});

describe("compression bombs are bounded", () => {
  // 256 MiB of zeros gzip to ~250 KiB; the limit stops the inflation long before the disk fills.
  // `afterEnd` puts the zeros after the end-of-archive marker, where the reader drains them.
  const bomb = async (afterEnd: boolean) => {
    const chunk = new Uint8Array(1 << 20);
    const gz = zlib.createGzip({ level: 9 });
    const out: Buffer[] = [];
    gz.on("data", (d: Buffer) => out.push(d));
    const done = new Promise((res) => gz.on("end", res));
    const zeros = async function* () {
      for (let i = 0; i < 256; i++) yield chunk;
    };
    // Honour backpressure so the 256 MiB never sit in memory; big body chunks pass through uncopied.
    const put = (c: Uint8Array) => (gz.write(c.length >= 1 << 20 ? c : c.slice()) ? undefined : new Promise<void>((r) => gz.once("drain", r)));
    const w = new TarWriter(put);
    if (afterEnd) {
      await w.add({ name: "small", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1 }, enc("x"));
      await w.finish();
      for await (const z of zeros()) await put(z);
    } else {
      await w.add({ name: "zeros", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 256 << 20 }, zeros());
      await w.finish();
    }
    gz.end();
    await done;
    return new Uint8Array(Buffer.concat(out));
  };

  test("the default limit is documented and overridable", () => {
    const saved = process.env.KILN_MAX_UNPACKED_SIZE;
    try {
      delete process.env.KILN_MAX_UNPACKED_SIZE;
      expect(maxUnpackedSize()).toBe(DEFAULT_MAX_UNPACKED);
      process.env.KILN_MAX_UNPACKED_SIZE = "16M";
      expect(maxUnpackedSize()).toBe(16 << 20);
      process.env.KILN_MAX_UNPACKED_SIZE = "lots";
      expect(() => maxUnpackedSize()).toThrow(/KILN_MAX_UNPACKED_SIZE="lots" is not a size/);
    } finally {
      if (saved === undefined) delete process.env.KILN_MAX_UNPACKED_SIZE;
      else process.env.KILN_MAX_UNPACKED_SIZE = saved;
    }
  });

  for (const [target, runtime] of [["layer", "bun"], ["add", "bun"], ["layer", "deno"], ["add", "deno"]] as const) {
    for (const afterEnd of [false, true]) {
      test(`${target} (${runtime}): a gzip bomb ${afterEnd ? "after the end marker " : ""}stops at KILN_MAX_UNPACKED_SIZE`, async () => {
        const gz = await bomb(afterEnd);
        expect(gz.length).toBeLessThan(1 << 20);
        const saved = process.env.KILN_MAX_UNPACKED_SIZE;
        process.env.KILN_MAX_UNPACKED_SIZE = String(16 << 20);
        try {
          const r = await applyTo(target, gz, runtime);
          expectError(target, r, /decompresses to more than 16777216 bytes .*KILN_MAX_UNPACKED_SIZE/);
          // At most the limit reached the disk.
          expect(fs.statSync(`${rootfs}/${afterEnd ? "small" : "zeros"}`).size).toBeLessThanOrEqual(16 << 20);
          expectOutsideUntouched();
        } finally {
          if (saved === undefined) delete process.env.KILN_MAX_UNPACKED_SIZE;
          else process.env.KILN_MAX_UNPACKED_SIZE = saved;
        }
      }, 30_000);
    }
  }
});

describe("through the CLI (ADD of a hostile archive), in every form kiln ships in", () => {
  beforeAll(async () => void (await kilnArgv("binary")), 300_000);
  let k = 0;
  const cliCases: [string, () => Promise<Uint8Array>, RegExp | undefined][] = [
    ["../../x is refused", () => tarOf([{ name: "../../canary/secret", body: "pwned" }]), /^kiln: Dockerfile:2: ADD "evil\.tar": entry "\.\.\/\.\.\/canary\/secret" climbs out/m],
    ["files written through an absolute symlink land inside", () => tarOf([{ name: "a", type: "symlink", linkname: canary }, { name: "a/secret", body: "pwned" }, { name: "a/sub/x", body: "pwned" }]), undefined],
    ["a hardlink through a symlink to outside", () => tarOf([{ name: "s", type: "symlink", linkname: canary }, { name: "h", type: "hardlink", linkname: "s/secret" }]), /^kiln: Dockerfile:2: ADD "evil\.tar": (cannot resolve "s": "\/tmp" does not exist|hardlink "h" -> "s\/secret": target does not exist)/m],
    ["a directory replaced by a symlink to outside keeps its times inside", () => tarOf([{ name: "d/", type: "dir", mtime: 1 }, { name: "d", type: "symlink", linkname: canary }]), undefined],
    ["a gzip bomb stops at KILN_MAX_UNPACKED_SIZE", async () => gzip(await tarOf([{ name: "zeros", body: new Uint8Array(32 << 20) }]), 9), /^kiln: Dockerfile:2: ADD "evil\.tar": decompresses to more than 16777216 bytes/m],
  ];
  for (const form of FORMS) {
    for (const [name, tar, fails] of cliCases) {
      test(`${name} (${form})`, async () => {
        const cliCtx = `${scratch}/cli-${++k}`;
        fs.mkdirSync(cliCtx);
        fs.writeFileSync(`${cliCtx}/Dockerfile`, "FROM scratch\nADD evil.tar /\n");
        fs.writeFileSync(`${cliCtx}/evil.tar`, await tar());
        const canaryTime = fs.statSync(canary).mtimeMs;
        const r = await kilnIn(form, ["build", "-c", cliCtx, "--no-push", "--tar-path", `${scratch}/out-${k}.tar`], {
          cwd: scratch,
          env: { KILN_WORKDIR: `${scratch}/kw-${k}`, KILN_MAX_UNPACKED_SIZE: "16M" },
        });
        expect(r.err).not.toMatch(/internal error|\n\s+at /);
        if (fails) {
          expect(r.err).toMatch(fails);
          expect(r.code).toBe(1);
          expect(fs.existsSync(`${scratch}/out-${k}.tar`)).toBe(false);
        } else {
          expect([r.code, r.err]).toEqual([0, expect.not.stringContaining("kiln:")]);
        }
        expectOutsideUntouched();
        expect(fs.statSync(canary).mtimeMs).toBe(canaryTime);
      }, 300_000);
    }
  }
});
