// Issue 16 item 3: what --cache-run-mounts saves a cold CI runner. A cold runner has no local
// cache-mount directory (a fresh --cache-mount-dir per build) and its package-install RUN misses
// the layer cache (a build arg it reads changes every build), as after a lockfile or base change.
// "without": --cache only; the RUN downloads every package. "with": --cache --cache-run-mounts,
// after one priming build; the RUN finds its packages in the mount fetched from the cache repo.
//
//   bun scripts/bench-cache-mounts.ts [--trials 3] [--packages 200] [--size-kib 256] [--rate-mbps 0] [--scenarios pkg,apt]
//
// pkg: offline. A package mirror served by this process on 127.0.0.1 (random, incompressible
//      files, like .debs); the RUN "downloads" the missing ones with busybox wget into the cache
//      mount and "installs" them. --rate-mbps throttles the mirror (0: as fast as loopback, the
//      worst case for a remote cache mount, whose blob comes from an equally fast registry).
// apt: the Debian base image and the machine's apt mirror (network): apt-get update + install
//      with /var/cache/apt and /var/lib/apt/lists as cache mounts (BuildKit's documented pattern;
//      without apt's pkgcache.bin files, which apt rebuilds on every run: they would make the
//      mount "changed" each time and be uploaded again).
// Time is wall seconds of the whole `kiln build` (build, cache writes, push); bytes are what
// the registry served/stored (its access log) and what came from the package mirror.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pushBaseImages, REPO_ROOT } from "./base-images.ts";
import { startRegistry, type RegistryHandle } from "./registry.ts";
import { logMark, traffic } from "./bench/registry-bytes.ts";

const REPO = REPO_ROOT;
const BUN = join(REPO, "node_modules", ".bin", "bun");

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const TRIALS = Number(arg("trials", "3"));
const PACKAGES = Number(arg("packages", "200"));
const SIZE_KIB = Number(arg("size-kib", "256"));
const RATE_MBPS = Number(arg("rate-mbps", "0"));
const SCENARIOS = arg("scenarios", "pkg,apt").split(",");

interface Sample { wall: number; regDown: number; regUp: number; mirror: number; note: string }

const tmp = mkdtempSync(join(tmpdir(), "kiln-bench-cache-mounts-"));
let reg: RegistryHandle | undefined;
let mirror: Server | undefined;

/** A throttled static file server; counts the body bytes it sends. */
async function serveMirror(dir: string): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  mirror = createServer((req, res) => {
    const file = join(dir, (req.url ?? "/").replace(/[^\w.-]/g, ""));
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": String(size) });
    (async () => {
      for await (const c of createReadStream(file, { highWaterMark: 64 * 1024 })) {
        sent += (c as Buffer).length;
        if (!res.write(c)) await once(res, "drain");
        // Throttled: each chunk takes as long as it would at the rate.
        if (RATE_MBPS > 0) await new Promise((r) => setTimeout(r, ((c as Buffer).length * 8) / (RATE_MBPS * 1000)));
      }
      res.end();
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => mirror!.listen(0, "127.0.0.1", r));
  const addr = mirror.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, sent: () => sent };
}

/** Async: the pkg mirror is served by this very process while kiln runs. */
function kilnBuild(ctx: string, dest: string, args: string[]): Promise<{ wall: number; log: string }> {
  const t0 = performance.now();
  const p = spawn(BUN, [join(REPO, "mod.ts"), "build", "-c", ctx, "-d", dest, ...args], { env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  p.stdout.on("data", (d) => (log += d));
  p.stderr.on("data", (d) => (log += d));
  return new Promise((resolve, reject) => {
    p.on("close", (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) reject(new Error(`kiln build failed (${code}):\n${log.split("\n").slice(-30).join("\n")}`));
      else resolve({ wall, log });
    });
  });
}

/** "Fetched 1,234 kB in 2s" lines of apt, summed, in bytes. */
function aptFetched(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/Fetched ([\d.,]+) (B|kB|MB|GB) in/g)) {
    n += Number(m[1]!.replace(/,/g, "")) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as "B"]!;
  }
  return n;
}

interface Scenario {
  name: string;
  context: string;
  base: string;
  mirrorBytes(log: string, before: number): number;
  mark(): number;
}

async function pkgScenario(busybox: string): Promise<Scenario> {
  const ctx = join(tmp, "pkg");
  const pool = join(tmp, "pkg-mirror");
  mkdirSync(ctx, { recursive: true });
  mkdirSync(pool, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < PACKAGES; i++) {
    const name = `pkg-${String(i).padStart(4, "0")}.deb`;
    writeFileSync(join(pool, name), randomBytes(SIZE_KIB * 1024));
    names.push(name);
  }
  const m = await serveMirror(pool);
  writeFileSync(join(ctx, "packages.txt"), names.join("\n") + "\n");
  writeFileSync(join(ctx, "Dockerfile"), `ARG BASE
FROM $BASE
ARG RUN_ID
RUN --mount=type=cache,id=bench-pkg,target=/var/cache/pkg --mount=type=bind,source=packages.txt,target=/packages.txt \\
    echo "run $RUN_ID" && mkdir -p /opt/pkgs && \\
    while read -r p; do [ -f /var/cache/pkg/$p ] || wget -q -O /var/cache/pkg/$p ${m.url}/$p || exit 1; done < /packages.txt && \\
    cat /var/cache/pkg/*.deb | md5sum > /opt/pkgs/installed
`);
  return { name: "pkg", context: ctx, base: busybox, mark: m.sent, mirrorBytes: (_log, before) => m.sent() - before };
}

function aptScenario(debian: string): Scenario {
  const ctx = join(tmp, "apt");
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, "Dockerfile"), `ARG BASE
FROM $BASE
ARG RUN_ID
RUN --mount=type=cache,id=bench-apt-archives,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,id=bench-apt-lists,target=/var/lib/apt/lists,sharing=locked \\
    echo "run $RUN_ID" && rm -f /etc/apt/apt.conf.d/docker-clean && \\
    printf '%s\\n' 'Binary::apt::APT::Keep-Downloaded-Packages "true";' 'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' > /etc/apt/apt.conf.d/keep-cache && \\
    apt-get update && apt-get install -y --no-install-recommends curl ca-certificates
`);
  return { name: "apt", context: ctx, base: debian, mark: () => 0, mirrorBytes: (log) => aptFetched(log) };
}

let runId = 0;
async function trial(s: Scenario, mode: "without" | "with", r: RegistryHandle): Promise<Sample> {
  const dir = join(tmp, `runner-${++runId}`); // the cold runner's empty cache-mount dir
  const args = ["--cache", "--cache-repo", `${r.host}/bench/${s.name}-${mode}/cache`, "--cache-mount-dir", dir,
    "--build-arg", `BASE=${s.base}`, "--build-arg", `RUN_ID=${runId}`, ...(mode === "with" ? ["--cache-run-mounts"] : [])];
  const from = logMark(r.logFile);
  const m0 = s.mark();
  const b = await kilnBuild(s.context, `${r.host}/bench/${s.name}-${mode}:${runId}`, args);
  const t = traffic(r.logFile, r.dataDir, from);
  rmSync(dir, { recursive: true, force: true });
  const note = mode === "with" ? `${b.log.includes(": fetched") ? "fetched" : "NOT FETCHED"}${b.log.includes(": storing") ? "+stored again" : ""}` : "";
  return { wall: b.wall, regDown: t.read, regUp: t.written, mirror: s.mirrorBytes(b.log, m0), note };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (n: number) => (n / 1e6).toFixed(2);

try {
  reg = await startRegistry();
  const wantApt = SCENARIOS.includes("apt");
  const refs = await pushBaseImages(reg, wantApt ? ["busybox", "debian"] : ["busybox"]);
  const scenarios: Scenario[] = [];
  if (SCENARIOS.includes("pkg")) scenarios.push(await pkgScenario(refs.busybox));
  if (wantApt) {
    if (refs.debian) scenarios.push(aptScenario(refs.debian));
    else console.log("apt: skipped, no Debian base image (bun scripts/base-images.ts builds it with debootstrap)");
  }
  console.log(`bench-cache-mounts: ${TRIALS} trials; pkg: ${PACKAGES} × ${SIZE_KIB} KiB, mirror rate ${RATE_MBPS > 0 ? `${RATE_MBPS} Mbit/s` : "unthrottled (loopback)"}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  console.log("\n| scenario | cold runner | wall s (median) | registry MB ↓/↑ | package mirror MB | trials (s) |");
  console.log("|---|---|---:|---:|---:|---|");
  for (const s of scenarios) {
    await trial(s, "with", reg); // fills the remote cache mount (not counted)
    const rows: Record<string, Sample[]> = { without: [], with: [] };
    for (let i = 0; i < TRIALS; i++) for (const mode of ["without", "with"] as const) rows[mode]!.push(await trial(s, mode, reg));
    for (const mode of ["without", "with"] as const) {
      const xs = rows[mode]!;
      const notes = [...new Set(xs.map((x) => x.note).filter(Boolean))].join(",");
      console.log(`| ${s.name} | ${mode === "with" ? "with --cache-run-mounts" : "without"} | ${median(xs.map((x) => x.wall)).toFixed(2)} | ${mb(median(xs.map((x) => x.regDown)))}/${mb(median(xs.map((x) => x.regUp)))} | ${mb(median(xs.map((x) => x.mirror)))} | ${xs.map((x) => x.wall.toFixed(2)).join(" ")}${notes ? ` (${notes})` : ""} |`);
    }
  }
  console.log(`\nload average after: ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
} finally {
  mirror?.close();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
