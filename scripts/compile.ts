// Builds the single kiln executable with `bun build --compile`, embedding version and commit.
// Usage:
//   bun scripts/compile.ts                          host target → dist/kiln-linux-<arch>[-musl]
//   bun scripts/compile.ts --target linux-arm64     one target (linux-x64, linux-arm64, linux-x64-musl, linux-arm64-musl)
//   bun scripts/compile.ts --all [--outdir DIR]     every target that can be built here, plus DIR/SHA256SUMS
//   bun scripts/compile.ts --outfile PATH           host (or --target) binary at PATH
//   bun scripts/compile.ts --deno                   try `deno compile`; prints "deno compile: skipped: <why>" when
//                                                   Deno's runtime (denort, from dl.deno.land) cannot be downloaded
// Cross targets need bun's runtime for that target: bun fetches the npm package @oven/bun-<target>
// from registry.npmjs.org (cached in ~/.bun/install/cache). Where that is unreachable the target
// fails with a message saying so; BUN_COMPILE_TARGET_TARBALL_URL points bun at a mirror.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

const root = join(import.meta.dirname, "..");
const bun = join(root, "node_modules", ".bin", "bun");
// Under Deno (the deno.json task) use the running deno itself: Deno treats npm .bin shims specially.
const deno = process.versions.deno ? process.execPath : join(root, "node_modules", ".bin", "deno");
/** Release names (the installer's asset names are `kiln-<name>`). kiln is Linux-only (chroot, libc FFI). */
export const TARGETS = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"] as const;

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
} catch { /* not a git checkout: keep "unknown" */ }

function hostTarget(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  // glibc's process report names its version; musl's has none.
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  return `linux-${arch}${glibc ? "" : "-musl"}`;
}

function normalise(t: string): string {
  const name = t.replace(/^bun-/, "").replace("aarch64", "arm64");
  if (!(TARGETS as readonly string[]).includes(name)) {
    console.error(`compile: unknown target ${t} (one of ${TARGETS.join(", ")})`);
    process.exit(2);
  }
  return name;
}

/** Compile one target; returns an error message instead of throwing so --all can go on. */
function compile(target: string, outfile: string): string | undefined {
  mkdirSync(dirname(outfile), { recursive: true });
  const cmd = [
    "build", "--compile", "--bytecode", "--format=esm", "--minify-syntax", "--minify-whitespace", `--target=bun-${target}`,
    "--define", `KILN_VERSION=${JSON.stringify(version)}`,
    "--define", `KILN_COMMIT=${JSON.stringify(commit)}`,
    join(root, "src", "cli", "entry.ts"), "--outfile", outfile,
  ];
  const r = spawnSync(bun, cmd, { cwd: root, encoding: "utf8" });
  process.stderr.write(r.stderr ?? "");
  if (r.status === 0) return undefined;
  const out = `${r.stdout}${r.stderr}`;
  if (/Failed to download|downloading|Does this target/i.test(out)) {
    const pkg = `@oven/bun-${target.replace("arm64", "aarch64")}@${bunVersion()}`;
    return `cannot cross-compile ${target}: bun needs its runtime for that target (npm package ${pkg}, ` +
      `from registry.npmjs.org unless BUN_COMPILE_TARGET_TARBALL_URL says otherwise) and could not download it: ` +
      `${out.trim().split("\n").pop()}`;
  }
  return `compile failed for ${target} (bun ${cmd.join(" ")}): exit ${r.status}`;
}

function bunVersion(): string {
  return execFileSync(bun, ["--version"], { encoding: "utf8" }).trim();
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** `deno compile` needs denort from dl.deno.land (or DENORT_BIN); unreachable → a clear skip, not a pass. */
function denoCompile(outdir: string): number {
  const outfile = join(outdir, "kiln-deno");
  const r = spawnSync(deno, ["compile", "-A", "--no-check", "--output", outfile, join(root, "mod.ts")], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status === 0) {
    console.log(outfile);
    return 0;
  }
  const url = out.match(/https:\/\/dl\.deno\.land\/\S+?\.zip/)?.[0];
  if (url && /error sending request|dns error|Connect|timed out|certificate/i.test(out)) {
    const why = out.match(/(dns error[^\n]*|Connection refused[^\n]*|timed out[^\n]*|certificate[^\n]*)/i)?.[1] ?? "network error";
    console.log(`deno compile: skipped: cannot download Deno's runtime ${url} (${why.trim()}); set DENORT_BIN to a local denort to build offline`);
    return 0;
  }
  process.stderr.write(out);
  console.error("deno compile: failed");
  return 1;
}

const outdir = resolve(opt("--outdir") ?? join(root, "dist"));
if (args.includes("--deno")) process.exit(denoCompile(outdir));

if (args.includes("--all")) {
  const built: string[] = [];
  let hostFailed = false;
  for (const t of TARGETS) {
    const file = join(outdir, `kiln-${t}`);
    const err = compile(t, file);
    if (err) {
      console.error(`compile: skipped ${t}: ${err}`);
      if (t === hostTarget()) hostFailed = true;
    } else {
      built.push(file);
      console.log(file);
    }
  }
  // sha256sum's format, so `sha256sum -c --ignore-missing SHA256SUMS` checks a download.
  writeFileSync(join(outdir, "SHA256SUMS"), built.map((f) => `${sha256(f)}  ${basename(f)}\n`).join(""));
  console.log(join(outdir, "SHA256SUMS"));
  process.exit(hostFailed || built.length === 0 ? 1 : 0);
}

const target = normalise(opt("--target") ?? hostTarget());
const outfile = resolve(opt("--outfile") ?? join(outdir, `kiln-${target}`));
const err = compile(target, outfile);
if (err) {
  console.error(`compile: ${err}`);
  process.exit(1);
}
console.log(outfile);
