// scripts/compile.ts --all: every release target (cross targets' bun runtimes come from the npm
// registry), SHA256SUMS in sha256sum's format, and a clear message when a cross runtime can't be fetched.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun, compileAll, hostAsset, run } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-dist-compile-"));
const dist = join(tmp, "dist");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await compileAll(dist);
}, 300_000);

/** e_machine and the PT_INTERP path of a 64-bit little-endian ELF file. */
function elf(file: string): { machine: number; interp: string } {
  const fd = openSync(file, "r");
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    expect(h.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const e = ph.subarray(i * phentsize);
      if (e.readUInt32LE(0) !== 3) continue; // PT_INTERP
      const s = Buffer.alloc(Number(e.readBigUInt64LE(32)));
      readSync(fd, s, 0, s.length, Number(e.readBigUInt64LE(8)));
      return { machine: h.readUInt16LE(18), interp: s.toString("latin1").replace(/\0+$/, "") };
    }
    return { machine: h.readUInt16LE(18), interp: "" };
  } finally {
    closeSync(fd);
  }
}

const X86_64 = 62;
const AARCH64 = 183;

test("--all builds the four Linux targets for their architecture and libc", () => {
  expect(elf(join(dist, "kiln-linux-x64"))).toEqual({ machine: X86_64, interp: "/lib64/ld-linux-x86-64.so.2" });
  expect(elf(join(dist, "kiln-linux-arm64"))).toEqual({ machine: AARCH64, interp: "/lib/ld-linux-aarch64.so.1" });
  expect(elf(join(dist, "kiln-linux-x64-musl"))).toEqual({ machine: X86_64, interp: "/lib/ld-musl-x86_64.so.1" });
  expect(elf(join(dist, "kiln-linux-arm64-musl"))).toEqual({ machine: AARCH64, interp: "/lib/ld-musl-aarch64.so.1" });
});

test("SHA256SUMS lists every binary with its real digest, in sha256sum format", async () => {
  const lines = readFileSync(join(dist, "SHA256SUMS"), "utf8").trimEnd().split("\n");
  expect(lines.map((l) => l.split("  ")[1]).sort()).toEqual(["kiln-linux-arm64", "kiln-linux-arm64-musl", "kiln-linux-x64", "kiln-linux-x64-musl"]);
  for (const l of lines) {
    const [hex, name] = l.split("  ");
    expect(createHash("sha256").update(readFileSync(join(dist, name!))).digest("hex")).toBe(hex!);
  }
  const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: dist });
  expect(check.code).toBe(0);
});

test("the host binary embeds version and commit", async () => {
  const v = await run(join(dist, hostAsset()), ["version"], { cwd: tmp });
  expect(v.code).toBe(0);
  const pkg = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "package.json"), "utf8")).version;
  expect(v.out).toContain(`kiln ${pkg}\n`);
  expect(v.out).toMatch(/^commit ([0-9a-f]{12}|unknown)$/m);
});

test("an unreachable cross runtime fails with a message naming the npm package", async () => {
  // An empty bun cache and a tarball URL on a closed loopback port: the download must fail.
  const r = await run(bun, ["scripts/compile.ts", "--target", "linux-arm64", "--outdir", join(tmp, "offline")], {
    env: { ...process.env, BUN_INSTALL_CACHE_DIR: join(tmp, "empty-cache"), BUN_COMPILE_TARGET_TARBALL_URL: "http://127.0.0.1:1/bun.tgz" },
  });
  expect(r.code).toBe(1);
  expect(r.err).toContain("cannot cross-compile linux-arm64");
  expect(r.err).toContain("@oven/bun-linux-aarch64@");
});

test("an unknown target is a usage error", async () => {
  const r = await run(bun, ["scripts/compile.ts", "--target", "darwin-arm64", "--outdir", join(tmp, "x")]);
  expect(r.code).toBe(2);
  expect(r.err).toContain("unknown target darwin-arm64");
});
