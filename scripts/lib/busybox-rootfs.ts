// A small but real userland: Debian's static busybox plus its applet symlinks and the few /etc files
// and directories that Dockerfiles take for granted (a non-root user, a sticky /tmp, homes).
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { exec, execCapture } from "./exec.ts";

export const BUSYBOX_BIN = "/bin/busybox";

/** Version of Debian's busybox-static, which must be what provides /bin/busybox (the dynamic one cannot run in an empty rootfs). */
export async function busyboxStaticVersion(): Promise<string> {
  const owner = await exec("dpkg-query", ["-S", BUSYBOX_BIN]).catch(() => "");
  if (!owner.startsWith("busybox-static:")) {
    throw new Error(`${BUSYBOX_BIN} is not from busybox-static: apt-get install busybox-static`);
  }
  return (await exec("dpkg-query", ["-W", "-f=${Version}", "busybox-static"])).trim();
}

/** Debian's architecture name for an OCI one. */
export const DEBIAN_ARCH: Record<string, string> = { amd64: "amd64", arm64: "arm64", arm: "armhf", "386": "i386", ppc64le: "ppc64el", s390x: "s390x", riscv64: "riscv64" };

/**
 * Debian's busybox-static for another architecture (`busybox-static:arm64`), fetched with
 * `apt-get download` and unpacked with `dpkg-deb -x` into cacheDir/debs, once. The version is
 * the host's busybox-static, so both images carry the same applets (the host binary lists them;
 * the foreign one cannot run here without QEMU). Returns the path of its bin/busybox.
 */
export async function foreignBusyboxBinary(arch: string, cacheDir: string): Promise<string> {
  const debArch = DEBIAN_ARCH[arch];
  if (!debArch) throw new Error(`no Debian architecture for ${arch}`);
  const version = await busyboxStaticVersion();
  const safe = version.replace(/[^A-Za-z0-9.+~-]/g, "_");
  const dir = join(cacheDir, "debs", `busybox-static_${safe}_${debArch}`);
  const bin = join(dir, "bin", "busybox");
  if (existsSync(bin)) return bin;
  mkdirSync(join(cacheDir, "debs"), { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, "debs", `.busybox-${debArch}-`));
  try {
    const got = await execCapture("apt-get", ["download", `busybox-static:${debArch}=${version}`], { cwd: tmp });
    if (got.code !== 0) {
      throw new Error(
        `apt-get download busybox-static:${debArch}=${version} failed (${got.stderr.trim().split("\n").pop()}): ` +
          `run scripts/install-deps (it adds the ${debArch} architecture: dpkg --add-architecture ${debArch} && apt-get update)`,
      );
    }
    const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download busybox-static:${debArch} wrote no .deb`);
    await exec("dpkg-deb", ["-x", join(tmp, deb), join(tmp, "root")]);
    if (!existsSync(join(tmp, "root", "bin", "busybox"))) throw new Error(`${deb} has no bin/busybox`);
    try {
      renameSync(join(tmp, "root"), dir);
    } catch (e) {
      if (!existsSync(bin)) throw e; // else a concurrent run got there first
    }
    return bin;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The busybox root filesystem; `bin` is another architecture's busybox-static of the same version (applets listed by the host's). */
export async function makeBusyboxRootfs(root: string, bin = BUSYBOX_BIN): Promise<void> {
  // Modes set explicitly (chmod), never left to the umask, so the layer is the same everywhere.
  const dir = (p: string, mode = 0o755, uid = 0, gid = 0) => {
    const full = join(root, p);
    mkdirSync(full, { recursive: true });
    chmodSync(full, mode);
    chownSync(full, uid, gid);
  };
  const file = (p: string, content: string, mode = 0o644) => {
    const full = join(root, p);
    writeFileSync(full, content);
    chmodSync(full, mode);
    chownSync(full, 0, 0);
  };
  for (const d of ["bin", "sbin", "dev", "etc", "home", "proc", "sys", "usr", "usr/bin", "usr/sbin", "var", "var/spool", "var/www"]) dir(d);
  dir("root", 0o700);
  dir("tmp", 0o1777);
  dir("home/user", 0o755, 1000, 1000);

  copyFileSync(bin, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  const applets = (await exec(BUSYBOX_BIN, ["--list-full"])).split("\n").map((l) => l.trim()).filter(Boolean).sort();
  for (const rel of applets) {
    // "linuxrc" is an init for initramfs use; nothing else may shadow busybox itself.
    if (rel === "bin/busybox" || !rel.includes("/")) continue;
    const full = join(root, rel);
    if (!existsSync(dirname(full))) dir(dirname(rel));
    if (!existsSync(full)) symlinkSync("/bin/busybox", full);
  }

  file("etc/passwd", [
    "root:x:0:0:root:/root:/bin/sh",
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
    "user:x:1000:1000:user:/home/user:/bin/sh",
  ].join("\n") + "\n");
  file("etc/group", [
    "root:x:0:",
    "daemon:x:1:",
    "wheel:x:10:root",
    "nogroup:x:65534:",
    "user:x:1000:",
  ].join("\n") + "\n");
  file("etc/shadow", ["root:*:19000:0:99999:7:::", "daemon:*:19000:0:99999:7:::", "nobody:*:19000:0:99999:7:::", "user:!:19000:0:99999:7:::"].join("\n") + "\n", 0o640);
  file("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  file("etc/nsswitch.conf", "hosts: files dns\npasswd: files\ngroup: files\n");
}
