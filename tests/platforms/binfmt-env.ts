// Test helper: make QEMU user emulation for a foreign architecture usable, as far as this machine
// allows. As root it mounts binfmt_misc when missing and registers Debian's qemu-user-static
// handler (update-binfmts, which keeps its F flag; or the register file). A handler that exists
// without F belongs to someone else's set-up and is left alone. kiln itself never does any of this.
import { existsSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { BINFMT_DIR, checkEmulation, elfHeaderFor, readBinfmt } from "../../src/run/binfmt.ts";
import type { Platform } from "../../src/image/types.ts";

export type EmulationSetup = { ok: true } | { ok: false; reason: string };

const QEMU: Record<string, { name: string; static: string }> = {
  arm64: { name: "qemu-aarch64", static: "/usr/bin/qemu-aarch64-static" },
  amd64: { name: "qemu-x86_64", static: "/usr/bin/qemu-x86_64-static" },
};

/** Registers QEMU for `platform` if needed and possible; says why not otherwise. */
export function ensureEmulation(platform: Platform): EmulationSetup {
  const first = checkEmulation(platform);
  if (first.ok) return { ok: true };
  if (process.getuid?.() !== 0) return { ok: false, reason: `not root, and ${first.message}` };
  const q = QEMU[platform.architecture];
  if (!q) return { ok: false, reason: `no QEMU handler known to the tests for ${platform.architecture}` };
  if (!existsSync(q.static)) return { ok: false, reason: `${q.static} is missing: apt-get install qemu-user-static binfmt-support` };
  try {
    if (!readBinfmt().mounted) execFileSync("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR], { stdio: "pipe" });
  } catch (e) {
    return { ok: false, reason: `cannot mount binfmt_misc: ${(e as Error).message.split("\n")[0]}` };
  }
  const state = readBinfmt();
  const header = elfHeaderFor(platform)!;
  const existing = state.handlers.find((h) => h.name === q.name);
  if (existing && !existing.flags.includes("F")) return { ok: false, reason: `binfmt_misc handler ${q.name} is registered without the F flag; the tests leave it alone` };
  if (!existing) {
    try {
      if (existsSync(`/var/lib/binfmts/${q.name}`)) execFileSync("update-binfmts", ["--enable", q.name], { stdio: "pipe" });
      else writeFileSync(`${BINFMT_DIR}/register`, registerLine(q.name, header, q.static));
    } catch (e) {
      return { ok: false, reason: `cannot register ${q.name}: ${(e as Error).message.split("\n")[0]}` };
    }
  }
  const after = checkEmulation(platform);
  return after.ok ? { ok: true } : { ok: false, reason: after.message };
}

/** ":name:M::magic:mask:interpreter:F" with QEMU's mask: any e_type 2/3, any OS ABI byte. */
export function registerLine(name: string, header: Uint8Array, interpreter: string): string {
  const mask = Uint8Array.from(header, () => 0xff);
  mask[7] = 0x00;
  mask[16] = 0xfe;
  const hex = (b: Uint8Array) => [...b].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("");
  return `:${name}:M::${hex(header)}:${hex(mask)}:${interpreter}:F`;
}
