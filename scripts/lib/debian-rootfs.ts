// A Debian rootfs the way official "slim" images are made: debootstrap minbase, then drop what a
// container never needs (apt lists, caches, logs, docs, man pages, locales) and add Docker's usual
// apt/dpkg tweaks so later `apt-get install` in a build stays slim too.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { execCapture } from "./exec.ts";

export interface DebootstrapOptions {
  suite: string;
  mirror: string;
  variant: string;
}

export async function debootstrapRootfs(root: string, o: DebootstrapOptions): Promise<void> {
  const r = await execCapture("debootstrap", [`--variant=${o.variant}`, "--components=main", o.suite, root, o.mirror], { guardExit: true });
  assertNothingMounted(root);
  if (r.code !== 0) {
    const log = join(root, "debootstrap", "debootstrap.log");
    const detail = existsSync(log) ? readFileSync(log, "utf8") : r.stdout + r.stderr;
    throw new Error(`debootstrap ${o.suite} ${o.mirror} failed (${r.code}):\n${detail.trim().split("\n").slice(-25).join("\n")}`);
  }
  slimDebianRootfs(root);
}

/** debootstrap mounts /proc and /sys in the target; removing the tree with them mounted would be a disaster. */
export function assertNothingMounted(root: string): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === root || m.startsWith(root + "/"));
  if (mounts.length) throw new Error(`still mounted under ${root}: ${mounts.join(", ")} (umount them first)`);
}

const DPKG_EXCLUDES = `# Like official Debian slim images: keep images small when packages are installed later.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`;

const APT_CONF: Record<string, string> = {
  "docker-clean": [
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
  ].join("\n") + "\n",
  "docker-no-languages": 'Acquire::Languages "none";\n',
  "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\n',
  "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
};

export function slimDebianRootfs(root: string): void {
  const p = (rel: string) => join(root, rel);
  const emptyDir = (rel: string, keep: (name: string) => boolean = () => false) => {
    if (!existsSync(p(rel))) return;
    for (const name of readdirSync(p(rel))) if (!keep(name)) rmSync(join(p(rel), name), { recursive: true, force: true });
  };
  const rmGlob = (rel: string, re: RegExp) => {
    if (!existsSync(p(rel))) return;
    for (const name of readdirSync(p(rel))) if (re.test(name)) rmSync(join(p(rel), name), { recursive: true, force: true });
  };

  // The container runtime provides /dev, /proc, /sys and /run contents.
  emptyDir("dev");
  emptyDir("proc");
  emptyDir("sys");
  emptyDir("run", (n) => n === "lock");
  emptyDir("tmp");
  rmSync(p("debootstrap"), { recursive: true, force: true });

  emptyDir("var/lib/apt/lists", (n) => n === "partial");
  rmGlob("var/cache/apt", /\.bin$/);
  rmGlob("var/cache/apt/archives", /\.deb$/);
  emptyDir("var/cache/apt/archives/partial");
  rmGlob("var/log", /^(dpkg\.log|alternatives\.log|bootstrap\.log)$/);
  emptyDir("var/log/apt");
  rmSync(p("var/cache/ldconfig/aux-cache"), { force: true });
  rmGlob("var/lib/dpkg", /-old$/);
  rmGlob("var/cache/debconf", /-old$/);

  // Docs: keep only copyright files, as slim images do.
  if (existsSync(p("usr/share/doc"))) {
    for (const pkg of readdirSync(p("usr/share/doc"))) {
      const d = join(p("usr/share/doc"), pkg);
      if (!statSync(d).isDirectory()) {
        rmSync(d, { force: true });
        continue;
      }
      for (const f of readdirSync(d)) if (f !== "copyright") rmSync(join(d, f), { recursive: true, force: true });
    }
  }
  for (const d of ["usr/share/man", "usr/share/info", "usr/share/groff", "usr/share/lintian", "usr/share/linda"]) emptyDir(d);
  emptyDir("usr/share/locale", (n) => n === "locale.alias");

  // Explicit modes: new files must not depend on the umask of whoever builds the cache.
  const put = (rel: string, text: string, mode = 0o644) => {
    writeFileSync(p(rel), text);
    chmodSync(p(rel), mode);
  };

  // Filled in by the container runtime at run time; must not carry the build host's values.
  put("etc/resolv.conf", "");
  put("etc/hostname", "");
  rmSync(p("etc/machine-id"), { force: true });

  mkdirSync(p("etc/dpkg/dpkg.cfg.d"), { recursive: true });
  put("etc/dpkg/dpkg.cfg.d/docker", DPKG_EXCLUDES);
  put("etc/dpkg/dpkg.cfg.d/docker-apt-speedup", "force-unsafe-io\n");
  for (const [name, text] of Object.entries(APT_CONF)) put(`etc/apt/apt.conf.d/${name}`, text);
  // Services must not start inside a build step.
  put("usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755);
}
