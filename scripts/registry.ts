// A real OCI registry for tests and examples: Debian's docker-registry (CNCF distribution 2.8)
// on a free 127.0.0.1 port, filesystem storage in a temp dir, optional htpasswd auth and self-signed TLS.
//
//   bun scripts/registry.ts [--auth] [--tls] [--mtls]     prints the address, runs until killed
//
// The registry runs under a tiny sh watchdog that reads our stdin pipe: when this process ends for
// any reason (normal end of `bun test`, which runs no "exit" hooks; crash; SIGKILL; Ctrl-C) the
// pipe closes and the watchdog kills the registry and deletes its temp dir, so nothing outlives us.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "./lib/free-port.ts";
import { htpasswdLine } from "./lib/htpasswd.ts";
import { makeClientCerts, makeRegistryCerts, type ClientCerts } from "./lib/registry-certs.ts";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export interface RegistryHandle {
  /** "127.0.0.1:PORT" */
  host: string;
  /** http(s)://host */
  url: string;
  /** stdout+stderr of the registry, including the access log (one Apache-style line per request). */
  logFile: string;
  /** Filesystem storage root (docker/registry/v2/... below it). */
  dataDir: string;
  username?: string;
  password?: string;
  /** PEM CA that signed the server certificate (TLS variant only). Alone in its directory, so
   *  dirname(caFile) can be given to skopeo/buildah as --cert-dir. */
  caFile?: string;
  /** Mutual-TLS variant: the client certificate the registry accepts (and the CA it checks it with). */
  clientCert?: ClientCerts;
  /** PID of the docker-registry process. */
  pid: number;
  stop(): Promise<void>;
  /** Synchronous best-effort kill + temp dir removal, for process exit handlers. */
  killSync(): void;
}

export interface StartRegistryOptions {
  auth?: { username: string; password: string };
  tls?: boolean;
  /** TLS that requires a client certificate signed by a CA of its own (http.tls.clientcas); implies tls. */
  mtls?: boolean;
}

const WATCHDOG = [
  `exec 2>>"$2"`, // job-control chatter ("Terminated") goes to the log, not the test output
  `"$0" serve "$1" </dev/null >>"$2" 2>&1 &`,
  `pid=$!`,
  `echo "$pid"`,
  `trap 'kill "$pid" 2>/dev/null' TERM INT HUP`,
  // EOF on stdin = our parent closed the pipe (stop()) or died.
  `while read -r _; do :; done`,
  `kill "$pid" 2>/dev/null`,
  `wait "$pid"`,
  // bun test never fires process "exit" hooks, so the watchdog removes the temp dir itself.
  `rm -rf -- "$3"`,
].join("\n");

const live = new Set<RegistryHandle>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const h of [...live]) h.killSync();
  });
}

function configYaml(o: { addr: string; dataDir: string; htpasswd?: string; cert?: string; key?: string; clientCa?: string }): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  formatter: text",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(o.dataDir)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${JSON.stringify(o.addr)}`,
    `  secret: ${JSON.stringify(randomBytes(16).toString("hex"))}`,
  ];
  if (o.cert && o.key) {
    lines.push("  tls:", `    certificate: ${JSON.stringify(o.cert)}`, `    key: ${JSON.stringify(o.key)}`);
    if (o.clientCa) lines.push("    clientcas:", `      - ${JSON.stringify(o.clientCa)}`);
  }
  lines.push("health:", "  storagedriver:", "    enabled: false");
  if (o.htpasswd) {
    lines.push("auth:", "  htpasswd:", "    realm: kiln-test", `    path: ${JSON.stringify(o.htpasswd)}`);
  }
  return lines.join("\n") + "\n";
}

/** GET url+path and return the HTTP status (uses node:http(s) so a private CA can be trusted on Bun and Deno). */
export function httpStatus(url: string, caFile?: string, headers: Record<string, string> = {}, client?: ClientCerts): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mtls = client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {};
    const opts = { method: "GET", headers, ...(caFile ? { ca: readFileSync(caFile) } : {}), ...mtls };
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, opts, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(2000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RegistryHandle> {
  if (!existsSync(REGISTRY_BIN)) {
    throw new Error(`docker-registry is not installed: apt-get install docker-registry`);
  }
  let lastErr: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastErr = e;
      // Only a lost race for the port is worth retrying.
      if (!String(e).includes("address already in use")) throw e;
    }
  }
  throw lastErr;
}

async function startOnce(opts: StartRegistryOptions): Promise<RegistryHandle> {
  const root = mkdtempSync(join(tmpdir(), "kiln-registry-"));
  const dataDir = join(root, "data");
  mkdirSync(dataDir);
  const logFile = join(root, "registry.log");
  writeFileSync(logFile, "");
  const configFile = join(root, "config.yml");
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    let htpasswd: string | undefined;
    if (opts.auth) {
      htpasswd = join(root, "htpasswd");
      writeFileSync(htpasswd, await htpasswdLine(opts.auth.username, opts.auth.password));
    }
    let certs: Awaited<ReturnType<typeof makeRegistryCerts>> | undefined;
    let clientCert: ClientCerts | undefined;
    if (opts.tls || opts.mtls) {
      const certDir = join(root, "certs");
      mkdirSync(certDir);
      certs = await makeRegistryCerts(certDir);
      // Kept out of certs/ca/, which must hold the server CA alone (see makeRegistryCerts).
      if (opts.mtls) clientCert = await makeClientCerts(join(root, "client"));
    }
    writeFileSync(configFile, configYaml({ addr: host, dataDir, htpasswd, cert: certs?.certFile, key: certs?.keyFile, clientCa: clientCert?.clientCaFile }));

    const child = spawn("/bin/sh", ["-c", WATCHDOG, REGISTRY_BIN, configFile, logFile, root], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const pid = await readPid(child, logFile);
    let exited = child.exitCode !== null;
    const exitP = new Promise<void>((r) => child.on("exit", () => ((exited = true), r())));
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    (child.stdout as unknown as { unref?: () => void }).unref?.();

    const url = `${certs ? "https" : "http"}://${host}`;
    let stopped = false;
    const handle: RegistryHandle = {
      host,
      url,
      logFile,
      dataDir,
      pid,
      ...(opts.auth ? { username: opts.auth.username, password: opts.auth.password } : {}),
      ...(certs ? { caFile: certs.caFile } : {}),
      ...(clientCert ? { clientCert } : {}),
      async stop() {
        if (stopped) return;
        stopped = true;
        live.delete(handle);
        child.stdin?.end();
        const timer = setTimeout(() => tryKill(pid, "SIGKILL"), 5000);
        if (!exited) await exitP;
        clearTimeout(timer);
        rmSync(root, { recursive: true, force: true });
      },
      killSync() {
        if (stopped) return;
        stopped = true;
        live.delete(handle);
        // The watchdog shell reaps it, then exits on EOF once we are gone.
        tryKill(pid, "SIGKILL");
        rmSync(root, { recursive: true, force: true });
      },
    };
    live.add(handle);
    installExitHook();

    const deadline = Date.now() + 15000;
    for (;;) {
      if (exited) {
        await handle.stop().catch(() => {});
        throw new Error(`docker-registry exited during startup:\n${tail(logFile)}`);
      }
      const status = await httpStatus(`${url}/v2/`, certs?.caFile, {}, clientCert).catch(() => 0);
      if (status === 200 || (opts.auth && status === 401)) return handle;
      if (Date.now() > deadline) {
        const log = tail(logFile);
        await handle.stop().catch(() => {});
        throw new Error(`docker-registry on ${host} did not answer /v2/ (last status ${status}):\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    const log = existsSync(logFile) ? tail(logFile) : "";
    rmSync(root, { recursive: true, force: true });
    if (log && !String(e).includes(log)) throw new Error(`${String(e)}\n${log}`);
    throw e;
  }
}

function readPid(child: ChildProcess, logFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (b: Buffer) => {
      buf += b.toString();
      const m = buf.match(/^(\d+)\n/);
      if (m) {
        child.stdout!.off("data", onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.on("error", reject);
    child.on("exit", () => reject(new Error(`registry watchdog exited early:\n${tail(logFile)}`)));
  });
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function tail(file: string, n = 30): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const auth = args.includes("--auth") ? { username: "kiln", password: randomBytes(9).toString("base64url") } : undefined;
  const reg = await startRegistry({ auth, tls: args.includes("--tls"), mtls: args.includes("--mtls") });
  console.log(reg.host);
  console.error(`url:      ${reg.url}`);
  if (reg.username) console.error(`username: ${reg.username}\npassword: ${reg.password}`);
  if (reg.caFile) console.error(`ca:       ${reg.caFile}`);
  if (reg.clientCert) console.error(`client:   ${reg.clientCert.certFile},${reg.clientCert.keyFile}`);
  console.error(`log:      ${reg.logFile}\ndata:     ${reg.dataDir}\n(Ctrl-C to stop)`);
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = () => {
    clearInterval(keepAlive);
    void reg.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
