// Issue 17's benchmark: an amd64+arm64 image built in one command (`--platform a,b`, the foreign
// platform's RUN under QEMU) against two single-platform builds plus `kiln index create`, each cold
// (empty cache repository) and warm (everything cached). Prints time and bytes moved through the
// local registry (downloaded: GET blob bodies; uploaded: the blobs PUT, by their stored size).
//
//   bun scripts/bench-platforms.ts [MIB=1]     (MIB: random data each RUN writes, per platform)
//
// Needs root (RUN chroots), docker-registry, and a binfmt_misc handler for the foreign arch.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkEmulation } from "../src/run/binfmt.ts";
import { foreignPlatform, pushBaseImages, pushMultiArchImages, REPO_ROOT } from "./base-images.ts";
import { startRegistry, type RegistryHandle } from "./registry.ts";

const mib = Number(process.argv[2] ?? 1);
const foreign = foreignPlatform();
const qemu = checkEmulation(foreign);
if (!qemu.ok) {
  console.error(`bench-platforms: cannot RUN ${foreign.architecture} here: ${qemu.message}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-platforms-"));
const reg = await startRegistry();
try {
  const multi = await pushMultiArchImages(reg, (await pushBaseImages(reg, ["busybox"])).busybox);
  writeFileSync(join(dir, "Dockerfile"), [
    `FROM ${multi.index}`,
    "ARG TARGETARCH",
    `RUN dd if=/dev/urandom of=/data bs=1048576 count=${mib} 2>/dev/null && uname -m > /arch`,
    "RUN echo \"built for $TARGETARCH\" > /what",
    "",
  ].join("\n"));
  const rows: string[] = [];
  for (const temp of ["cold", "warm"] as const) {
    rows.push(row(`one command (--platform amd64,arm64), ${temp}`, reg, () => {
      kiln(["build", "-c", dir, "--platform", "linux/amd64,linux/arm64", "-d", `${reg.host}/bench/one:1`, "--cache", "--cache-repo", `${reg.host}/bench/one-cache`, "--reproducible"]);
    }));
    rows.push(row(`two builds + kiln index create, ${temp}`, reg, () => {
      for (const p of ["amd64", "arm64"]) {
        kiln(["build", "-c", dir, "--platform", `linux/${p}`, "-d", `${reg.host}/bench/two:1-${p}`, "--cache", "--cache-repo", `${reg.host}/bench/two-cache`, "--reproducible"]);
      }
      kiln(["index", "create", `${reg.host}/bench/two:1`, `${reg.host}/bench/two:1-amd64`, `${reg.host}/bench/two:1-arm64`]);
    }));
  }
  console.log(`bench-platforms: ${mib} MiB of RUN output per platform; foreign platform ${foreign.os}/${foreign.architecture} under QEMU (${qemu.handler?.name ?? "native"})`);
  console.log("| case | seconds | downloaded | uploaded |\n|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
}

function kiln(args: string[]): void {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "mod.ts"), ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  if (r.status !== 0) throw new Error(`kiln ${args.join(" ")} exited ${r.status}\n${r.stderr}`);
}

/** Run `f`, timing it and summing the blob bytes the registry served and received meanwhile. */
function row(name: string, reg: RegistryHandle, f: () => void): string {
  const from = readFileSync(reg.logFile).length;
  const t0 = performance.now();
  f();
  const secs = (performance.now() - t0) / 1000;
  const log = readFileSync(reg.logFile, "utf8").slice(from).split("\n");
  let down = 0;
  let up = 0;
  for (const l of log) {
    const get = /"GET \/v2\/\S+\/blobs\/sha256:[0-9a-f]{64} HTTP\/[\d.]+" 200 (\d+)/.exec(l);
    if (get) down += Number(get[1]);
    const put = /"PUT \/v2\/\S+\/blobs\/uploads\/\S*[?&]digest=sha256(?:%3A|:)([0-9a-f]{64})\S* HTTP\/[\d.]+" 201/.exec(l);
    if (put) up += blobSize(reg, put[1]!);
  }
  return `| ${name} | ${secs.toFixed(2)} | ${kib(down)} | ${kib(up)} |`;
}

function blobSize(reg: RegistryHandle, hex: string): number {
  try {
    return statSync(join(reg.dataDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data")).size;
  } catch {
    return 0;
  }
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(0)} KiB`;
}
