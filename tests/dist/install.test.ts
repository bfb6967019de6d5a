// scripts/install.sh, run by dash (POSIX sh), against a loopback HTTP server serving a dist dir made
// by scripts/compile.ts --all: detection, curl and wget, checksum refusal, install locations.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "../env.ts";
import { compileAll, hostAsset, root, run, serveFiles, type FileServer } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-dist-install-"));
chmodSync(tmp, 0o755); // the non-root install test runs as nobody
const dist = join(tmp, "dist");
const installer = join(root, "scripts", "install.sh");
const files = new Map<string, Uint8Array>();
let srv: FileServer;
let n = 0;

beforeAll(async () => {
  for (const [tool, pkg] of [["dash", "dash"], ["curl", "curl"], ["wget", "wget"], ["sha256sum", "coreutils"], ["setpriv", "util-linux"]]) requireTool(tool!, pkg!);
  await compileAll(dist);
  for (const f of readdirSync(dist)) files.set(`/rel/${f}`, readFileSync(join(dist, f)));
  // A release whose binary was tampered with after SHA256SUMS was written.
  const bad = Buffer.from(readFileSync(join(dist, hostAsset())));
  bad[bad.length - 100] ^= 0xff;
  files.set(`/tampered/${hostAsset()}`, bad);
  files.set("/tampered/SHA256SUMS", readFileSync(join(dist, "SHA256SUMS")));
  // A release whose SHA256SUMS lacks this machine's binary.
  files.set(`/nosum/${hostAsset()}`, readFileSync(join(dist, hostAsset())));
  files.set("/nosum/SHA256SUMS", Buffer.from(readFileSync(join(dist, "SHA256SUMS"), "utf8").split("\n").filter((l) => !l.endsWith(`  ${hostAsset()}`)).join("\n")));
  srv = await serveFiles(files);
}, 300_000);
afterAll(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh install dir and `dash install.sh` with KILN_BASE_URL=<server>/<release>. */
async function install(release: string, env: Record<string, string> = {}, prefix: string[] = []) {
  const dir = join(tmp, `bin-${++n}`);
  const base = { PATH: process.env.PATH!, HOME: join(tmp, "home"), KILN_BASE_URL: `${srv.url}/${release}`, KILN_INSTALL_DIR: dir };
  const first = srv.requests.length;
  const dash = Bun.which("dash")!;
  const r = await run(prefix[0] ?? dash, [...prefix.slice(1), ...(prefix.length ? [dash] : []), installer], { env: { ...base, ...env } });
  return { ...r, dir, requested: srv.requests.slice(first) };
}

/** A PATH dir with only these host tools (to take curl away, or fake uname/ldd). */
function pathWith(tools: string[], fakes: Record<string, string> = {}): string {
  const d = join(tmp, `path-${++n}`);
  mkdirSync(d);
  // A fake replaces the tool's symlink (never written through it: that would overwrite the host's tool).
  for (const t of tools) if (!(t in fakes)) symlinkSync(Bun.which(t)!, join(d, t));
  for (const [name, script] of Object.entries(fakes)) writeFileSync(join(d, name), `#!/bin/sh\n${script}\n`, { mode: 0o755, flag: "wx" });
  return d;
}
const BASIC = ["dash", "uname", "ls", "grep", "mktemp", "rm", "awk", "cut", "sha256sum", "mkdir", "chmod", "cp", "mv", "id", "dirname", "cat"];

test("installs this machine's binary, checked against SHA256SUMS, with curl", async () => {
  const r = await install("rel");
  expect(r.err).toContain(`installed ${r.dir}/kiln`);
  expect(r.code).toBe(0);
  expect(r.requested).toEqual(["/rel/SHA256SUMS", `/rel/${hostAsset()}`]);
  expect(readdirSync(r.dir)).toEqual(["kiln"]);
  const v = await run(join(r.dir, "kiln"), ["version"]);
  expect(v.out).toMatch(/^kiln \d+\.\d+\.\d+/);
});

test("works with wget when curl is missing", async () => {
  const r = await install("rel", { PATH: pathWith([...BASIC, "wget", "ldd"]) });
  expect(r.code).toBe(0);
  expect(Buffer.compare(readFileSync(join(r.dir, "kiln")), readFileSync(join(dist, hostAsset())))).toBe(0);
});

test("detects aarch64 and musl from uname and ldd", async () => {
  const fakes = {
    uname: `case "$1" in -s) echo Linux ;; -m) echo aarch64 ;; esac`,
    ldd: `echo "musl libc (aarch64)" >&2; exit 1`,
  };
  const r = await install("rel", { PATH: pathWith([...BASIC, "curl"], fakes) });
  expect(r.code).toBe(0);
  expect(r.requested).toEqual(["/rel/SHA256SUMS", "/rel/kiln-linux-arm64-musl"]);
  expect(Buffer.compare(readFileSync(join(r.dir, "kiln")), readFileSync(join(dist, "kiln-linux-arm64-musl")))).toBe(0);
});

test("an unsupported OS or architecture is refused before any download", async () => {
  const r = await install("rel", { PATH: pathWith([...BASIC, "curl"], { uname: `case "$1" in -s) echo Linux ;; -m) echo riscv64 ;; esac` }) });
  expect(r.code).toBe(1);
  expect(r.err).toContain("unsupported architecture riscv64");
  expect(r.requested).toEqual([]);
});

test("a tampered binary is refused and the existing kiln is left alone", async () => {
  const dir = join(tmp, "existing");
  mkdirSync(dir);
  writeFileSync(join(dir, "kiln"), "#!/bin/sh\necho old\n", { mode: 0o755 });
  const r = await install("tampered", { KILN_INSTALL_DIR: dir });
  expect(r.code).toBe(1);
  expect(r.err).toContain(`checksum mismatch for ${hostAsset()}`);
  expect(r.err).toContain("nothing installed");
  expect(readdirSync(dir)).toEqual(["kiln"]);
  expect(readFileSync(join(dir, "kiln"), "utf8")).toBe("#!/bin/sh\necho old\n");
});

test("a SHA256SUMS without this binary's entry is refused", async () => {
  const r = await install("nosum");
  expect(r.code).toBe(1);
  expect(r.err).toContain(`SHA256SUMS has no entry for ${hostAsset()}`);
  expect(existsSync(r.dir)).toBe(false);
});

test("a missing release file fails clearly", async () => {
  const r = await install("nothing-here");
  expect(r.code).toBe(1);
  expect(r.err).toContain("cannot download");
  expect(existsSync(r.dir)).toBe(false);
});

test("without KILN_INSTALL_DIR a non-root user gets ~/.local/bin", async () => {
  const home = join(tmp, "nobody-home");
  mkdirSync(home, { mode: 0o777 });
  chmodSync(home, 0o777);
  const r = await install("rel", { HOME: home, KILN_INSTALL_DIR: "" }, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
  expect(r.err).toContain(`installed ${home}/.local/bin/kiln`);
  expect(r.code).toBe(0);
  expect(existsSync(join(home, ".local", "bin", "kiln"))).toBe(true);
});
