// A tiny rootfs for runner tests: Debian's static busybox plus its applet symlinks, and
// /etc/passwd + /etc/group with root, nobody (65534) and user (1000).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUSYBOX = "/bin/busybox";
const INSTALL = "install it with: apt-get install -y busybox-static";

/** True when the ELF file has no PT_INTERP program header (it runs in an empty chroot). */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

export function makeBusyboxRootfs(): string {
  if (!existsSync(BUSYBOX)) throw new Error(`runner tests need ${BUSYBOX}: ${INSTALL}`);
  if (!isStaticElf(BUSYBOX)) throw new Error(`${BUSYBOX} is dynamically linked; the runner tests need the static one: ${INSTALL}`);
  const root = mkdtempSync(join(tmpdir(), "kiln-runner-rootfs-"));
  chmodSync(root, 0o755); // it is "/" for the command: mkdtemp's 0700 would lock out non-root users
  mkdirSync(join(root, "bin"));
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "tmp"), { mode: 0o1777 });
  copyFileSync(BUSYBOX, join(root, "bin/busybox"));
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter((a) => a && a !== "busybox");
  for (const a of applets) symlinkSync("busybox", join(root, "bin", a));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nusers:x:100:user\nuser:x:1000:\nnogroup:x:65534:\n");
  return root;
}
