// Shared by the release tests: async process runs (a loopback server in this process must keep
// answering while the child runs, so no spawnSync), the compile script and a tiny file server.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { processTempDir } from "../process-dirs.ts";

export const root = join(import.meta.dir, "..", "..");
export const bun = join(root, "node_modules", ".bin", "bun");

export interface Ran { code: number | null; out: string; err: string }

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? root, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** Run and throw with the output unless it exits 0. */
export async function must(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.out}\n${r.err}`);
  return r.out;
}

let all: Promise<string> | undefined;

/**
 * `bun scripts/compile.ts --all` (every target plus SHA256SUMS) into `outdir`: compiled once per
 * test process, then hard-linked into each caller's `outdir` (which must not exist yet).
 */
export async function compileAll(outdir: string): Promise<string> {
  all ??= (async () => {
    const dir = join(processTempDir("kiln-dist-all"), "dist");
    await must(bun, ["scripts/compile.ts", "--all", "--outdir", dir]);
    return dir;
  })();
  return must("cp", ["-al", await all, outdir]);
}

export interface FileServer { url: string; requests: string[]; close(): Promise<void> }

/** Serves `files` (URL path → bytes) on 127.0.0.1; everything else is a 404. */
export function serveFiles(files: Map<string, Uint8Array>): Promise<FileServer> {
  const requests: string[] = [];
  const srv = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = files.get(req.url ?? "");
    if (!body) {
      res.writeHead(404).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-length": body.byteLength, "content-type": "application/octet-stream" }).end(body);
  });
  return new Promise((resolve) => {
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      resolve({ url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => srv.close(() => r())) });
    });
  });
}

/** The host's release name, as the installer and compile script spell it. */
export function hostAsset(): string {
  return `kiln-linux-${process.arch === "arm64" ? "arm64" : "x64"}`;
}

let hostBinary: Promise<string> | undefined;

/**
 * The host's kiln executable, compiled once per test process (bun test shares modules across
 * files): the release tests and the hostile-input tests run the same binary. Taken from the
 * `--all` build when one was started first, else compiled alone.
 */
export function compiledKiln(): Promise<string> {
  const alone = async () => {
    const out = join(processTempDir("kiln-dist-bin"), "kiln");
    await must(bun, ["scripts/compile.ts", "--outfile", out]);
    return out;
  };
  hostBinary ??= all ? all.then((dir) => join(dir, hostAsset()), alone) : alone();
  return hostBinary;
}
