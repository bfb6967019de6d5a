// binfmt_misc: can this kernel run another architecture's binaries (through QEMU user emulation)?
// kiln only reads /proc/sys/fs/binfmt_misc; it never registers or changes a handler itself.
// A RUN is chrooted, so a handler is usable only with the F (fix-binary) flag: the kernel opens
// the interpreter when it is registered, and it need not exist inside the chroot.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { posix } from "node:path";
import { KilnError } from "../util/errors.ts";
import { formatPlatform, hostPlatform, normalizePlatform } from "../image/platform.ts";
import type { Platform } from "../image/types.ts";
import { DEFAULT_PATH } from "./exec-path.ts";
import { resolveInRoot } from "./root-path.ts";

export const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";

/** One registered handler, as /proc/sys/fs/binfmt_misc/NAME shows it. */
export interface BinfmtHandler {
  name: string;
  enabled: boolean;
  interpreter: string;
  /** Letters of the flags: P preserve-argv0, O open-binary, C credentials, F fix-binary. */
  flags: string;
  offset: number;
  magic?: Uint8Array;
  mask?: Uint8Array;
  /** Handlers that match a file name extension instead of magic bytes. */
  extension?: string;
}

export interface BinfmtState {
  /** binfmt_misc is mounted (its status file exists). */
  mounted: boolean;
  /** The global switch in binfmt_misc/status. */
  enabled: boolean;
  handlers: BinfmtHandler[];
}

/** ELF identification of an architecture: class (1 = 32-bit, 2 = 64-bit), data (1 = LE, 2 = BE), e_machine. */
interface ElfArch {
  cls: 1 | 2;
  data: 1 | 2;
  machine: number;
}

// OCI architecture → ELF header fields (linux/elf-em.h). qemu's handler names in comments.
const ELF_ARCH: Record<string, ElfArch> = {
  amd64: { cls: 2, data: 1, machine: 62 }, // x86_64
  "386": { cls: 1, data: 1, machine: 3 }, // i386
  arm64: { cls: 2, data: 1, machine: 183 }, // aarch64
  arm: { cls: 1, data: 1, machine: 40 }, // arm
  ppc64le: { cls: 2, data: 1, machine: 21 }, // ppc64le
  s390x: { cls: 2, data: 2, machine: 22 }, // s390x
  riscv64: { cls: 2, data: 1, machine: 243 }, // riscv64
  mips64le: { cls: 2, data: 1, machine: 8 }, // mips64el
  loong64: { cls: 2, data: 1, machine: 258 }, // loongarch64
};

// Architectures a host runs without emulation besides its own (amd64 kernels run i386 binaries).
const NATIVE_TOO: Record<string, string[]> = { amd64: ["386"] };

/** Parse the text of /proc/sys/fs/binfmt_misc/NAME. */
export function parseBinfmtEntry(name: string, text: string): BinfmtHandler {
  const h: BinfmtHandler = { name, enabled: false, interpreter: "", flags: "", offset: 0 };
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (l === "enabled" || l === "disabled") h.enabled = l === "enabled";
    else if (l.startsWith("interpreter ")) h.interpreter = l.slice("interpreter ".length);
    else if (l.startsWith("flags:")) h.flags = l.slice("flags:".length).trim();
    else if (l.startsWith("offset ")) h.offset = Number(l.slice("offset ".length)) || 0;
    else if (l.startsWith("magic ")) h.magic = hexBytes(l.slice("magic ".length));
    else if (l.startsWith("mask ")) h.mask = hexBytes(l.slice("mask ".length));
    else if (l.startsWith("extension ")) h.extension = l.slice("extension ".length);
  }
  return h;
}

function hexBytes(hex: string): Uint8Array {
  const clean = hex.trim();
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** What binfmt_misc holds now (an absent or unreadable directory reads as not mounted). */
export function readBinfmt(dir = BINFMT_DIR): BinfmtState {
  let status: string;
  try {
    status = readFileSync(`${dir}/status`, "utf8").trim();
  } catch {
    return { mounted: false, enabled: false, handlers: [] };
  }
  const handlers: BinfmtHandler[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === "status" || name === "register") continue;
    try {
      handlers.push(parseBinfmtEntry(name, readFileSync(`${dir}/${name}`, "utf8")));
    } catch {
      // removed between readdir and read
    }
  }
  return { mounted: true, enabled: status === "enabled", handlers };
}

/**
 * The first bytes of an ELF executable for `platform` (e_type EXEC or DYN: static and PIE binaries),
 * or undefined for an architecture kiln has no ELF numbers for.
 */
export function elfHeaderFor(platform: Platform, type: 2 | 3 = 2): Uint8Array | undefined {
  const a = ELF_ARCH[normalizePlatform(platform).architecture];
  if (!a) return undefined;
  const h = new Uint8Array(20);
  h.set([0x7f, 0x45, 0x4c, 0x46, a.cls, a.data, 1]);
  const put16 = (at: number, v: number) => {
    if (a.data === 1) h.set([v & 0xff, v >> 8], at);
    else h.set([v >> 8, v & 0xff], at);
  };
  put16(16, type);
  put16(18, a.machine);
  return h;
}

/** The architecture an ELF header says it is for (undefined when it is not ELF or unknown here). */
export function elfArchitecture(header: Uint8Array): Platform | undefined {
  if (header.length < 20 || header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c || header[3] !== 0x46) return undefined;
  const cls = header[4];
  const data = header[5];
  const machine = data === 2 ? (header[18]! << 8) | header[19]! : header[18]! | (header[19]! << 8);
  for (const [architecture, a] of Object.entries(ELF_ARCH)) {
    if (a.cls === cls && a.data === data && a.machine === machine) return normalizePlatform({ os: "linux", architecture });
  }
  return undefined;
}

/** Whether a handler's magic (under its mask, at its offset) matches `header`, as the kernel checks it. */
export function handlerMatches(h: BinfmtHandler, header: Uint8Array): boolean {
  if (!h.magic || h.extension !== undefined) return false;
  if (h.offset + h.magic.length > header.length) return false;
  for (let i = 0; i < h.magic.length; i++) {
    const m = h.mask ? h.mask[i]! : 0xff;
    if ((header[h.offset + i]! & m) !== (h.magic[i]! & m)) return false;
  }
  return true;
}

/** True when the host kernel runs `target`'s binaries without any handler. */
export function runsNatively(target: Platform, host: Platform = hostPlatform()): boolean {
  const t = normalizePlatform(target).architecture;
  const h = normalizePlatform(host).architecture;
  return t === h || (NATIVE_TOO[h] ?? []).includes(t);
}

export type EmulationCheck =
  | { ok: true; native: boolean; handler?: BinfmtHandler }
  | { ok: false; reason: "unknown-arch" | "not-mounted" | "disabled" | "no-handler" | "handler-disabled" | "no-fix-binary"; message: string };

/**
 * Can a chrooted RUN execute `target`'s binaries here? Native architectures always can; others
 * need an enabled binfmt_misc handler with the F flag matching both static (EXEC) and PIE (DYN)
 * ELF headers of that architecture. The message says how to register one.
 */
export function checkEmulation(target: Platform, opts: { dir?: string; host?: Platform } = {}): EmulationCheck {
  const host = opts.host ?? hostPlatform();
  if (runsNatively(target, host)) return { ok: true, native: true };
  const want = formatPlatform(normalizePlatform(target));
  const headers = [elfHeaderFor(target, 2), elfHeaderFor(target, 3)];
  if (!headers[0] || !headers[1]) {
    return { ok: false, reason: "unknown-arch", message: `cannot run ${want} binaries on this ${formatPlatform(host)} host: kiln knows no ELF machine number for that architecture` };
  }
  const qemu = qemuName(target);
  const howTo = `register QEMU's handler: apt-get install qemu-user-static binfmt-support && update-binfmts --enable ${qemu}`;
  const state = readBinfmt(opts.dir);
  if (!state.mounted) {
    return { ok: false, reason: "not-mounted", message: `RUN for ${want} needs QEMU through binfmt_misc, which is not mounted: mount -t binfmt_misc binfmt_misc ${opts.dir ?? BINFMT_DIR}, then ${howTo}` };
  }
  if (!state.enabled) return { ok: false, reason: "disabled", message: `RUN for ${want} needs QEMU through binfmt_misc, which is switched off: echo 1 > ${opts.dir ?? BINFMT_DIR}/status` };
  const matching = state.handlers.filter((h) => headers.every((hd) => handlerMatches(h, hd!)));
  const enabled = matching.filter((h) => h.enabled);
  const usable = enabled.find((h) => h.flags.includes("F"));
  if (usable) return { ok: true, native: false, handler: usable };
  if (enabled[0]) {
    const h = enabled[0];
    return {
      ok: false,
      reason: "no-fix-binary",
      message: `binfmt_misc handler ${h.name} for ${want} lacks the F (fix-binary) flag, so its interpreter ${h.interpreter} is not found inside the build's chroot: re-register it with F (update-binfmts --disable ${h.name}; apt-get install qemu-user-static binfmt-support && update-binfmts --enable ${qemu})`,
    };
  }
  if (matching[0]) return { ok: false, reason: "handler-disabled", message: `binfmt_misc handler ${matching[0].name} for ${want} is disabled: update-binfmts --enable ${matching[0].name} (or echo 1 > ${opts.dir ?? BINFMT_DIR}/${matching[0].name})` };
  return { ok: false, reason: "no-handler", message: `RUN for ${want} needs QEMU user emulation and no binfmt_misc handler is registered for it: ${howTo}` };
}

/** Throws a one-line KilnError (prefixed with `where`, e.g. "Dockerfile:3") when `target` cannot RUN here. */
export function requireEmulation(target: Platform, where: string, opts: { dir?: string; host?: Platform } = {}): void {
  const c = checkEmulation(target, opts);
  if (!c.ok) throw new KilnError(`${where}: ${c.message}`);
}

/** Debian's binfmt name for an architecture (/usr/share/binfmts/qemu-NAME). */
function qemuName(p: Platform): string {
  const arch = normalizePlatform(p).architecture;
  const names: Record<string, string> = { amd64: "x86_64", "386": "i386", arm64: "aarch64", arm: "arm", ppc64le: "ppc64le", s390x: "s390x", riscv64: "riscv64", mips64le: "mips64el", loong64: "loongarch64" };
  return `qemu-${names[arch] ?? arch}`;
}

/** Whether an exec error (errno name, number or message) is ENOEXEC, "Exec format error". */
export function isExecFormatError(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown } | undefined;
  if (e?.code === "ENOEXEC" || e?.errno === 8 || e?.errno === -8) return true;
  const text = typeof err === "string" ? err : typeof e?.message === "string" ? e.message : "";
  return /ENOEXEC|exec format error/i.test(text);
}

/**
 * For a RUN whose exec failed with ENOEXEC: if `command` (argv[0]: a path inside `rootfs`, or a name
 * looked up in `pathVar` there, relative to `cwd`; symlinks followed inside the rootfs) is an ELF binary of another
 * architecture, a one-line explanation naming it and how to register QEMU; undefined when that is
 * not the cause (then the raw error is the better message).
 */
export function explainExecFailure(rootfs: string, command: string, opts: { dir?: string; host?: Platform; pathVar?: string; cwd?: string } = {}): string | undefined {
  const header = readHeader(findInRoot(rootfs, command, opts.pathVar ?? DEFAULT_PATH, opts.cwd ?? "/"));
  if (!header) return undefined;
  const arch = elfArchitecture(header);
  const host = opts.host ?? hostPlatform();
  if (!arch) {
    if (header[0] === 0x7f && header[1] === 0x45 && header[2] === 0x4c && header[3] === 0x46) return `${command} is an ELF binary for an architecture kiln does not know (e_machine ${header[18]! | (header[19]! << 8)}); this host is ${formatPlatform(host)}`;
    return undefined;
  }
  if (runsNatively(arch, host)) return undefined;
  const c = checkEmulation(arch, opts);
  const name = formatPlatform(arch);
  if (c.ok) return `${command} is a ${name} binary and binfmt_misc handler ${c.handler?.name} should run it, yet the kernel refused it (ENOEXEC): check the handler's interpreter ${c.handler?.interpreter}`;
  return `${command} is a ${name} binary and this host is ${formatPlatform(host)}: ${c.message}`;
}

function findInRoot(rootfs: string, command: string, pathVar: string, cwd: string): string | undefined {
  if (command.includes("/")) return resolveInRoot(rootfs, posix.resolve(cwd, command));
  for (const dir of pathVar.split(":")) {
    const host = resolveInRoot(rootfs, `${dir || "/"}/${command}`);
    if (existsSync(host)) return host;
  }
  return undefined;
}

function readHeader(path: string | undefined): Uint8Array | undefined {
  if (!path || !existsSync(path)) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = new Uint8Array(64);
    const n = readSync(fd, buf, 0, 64, 0);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
