// A fault-injecting HTTP proxy on 127.0.0.1 in front of a real registry: rules match requests
// and answer with an error status, reset or truncate the connection, corrupt a body, or stall.
// With `tokens`, it also plays a Bearer token server (so a test can expire tokens mid-build).
// Everything it holds open is destroyed by close(), so a stalled client never outlives a test.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { kilnArgvSync, type Form } from "./forms.ts";

export type Fault =
  /** An error answer; `code` is the registry error code in the body (default UNAVAILABLE). */
  | { kind: "status"; status: number; headers?: Record<string, string>; code?: string; message?: string }
  /** Response headers and half the body, then the TCP connection is destroyed. For requests with a body (uploads): destroyed after part of it arrived. */
  | { kind: "reset" }
  /** The full Content-Length is announced, half the body is sent, then the response ends. */
  | { kind: "truncate" }
  /** Same length, one byte changed: the content no longer matches its digest. */
  | { kind: "corrupt" }
  /** Never answer; the socket stays open until the client gives up or close() is called. */
  | { kind: "stall" }
  /** Token mode: revoke the request's token and answer 401 with the challenge (an expired token). */
  | { kind: "expire-token" };

export interface Rule {
  method?: string;
  /** Matched against the path (no query). */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default: all). */
  times?: number;
  /** Matching requests let through before the fault starts (default 0). */
  skip?: number;
  /** How many times the fault was applied. */
  hits?: number;
}

export interface Logged {
  method: string;
  path: string;
  /** The upstream status, or the fault applied. */
  outcome: string;
}

export interface FaultProxy {
  host: string;
  rules: Rule[];
  log: Logged[];
  /** Token mode: how many tokens GET /token issued, and the tokens themselves. */
  tokensIssued: number;
  issued: string[];
  add(rule: Rule): Rule;
  reset(): void;
  close(): void;
}

export interface ProxyOptions {
  /** Require Bearer tokens issued by the proxy's own /token endpoint. */
  tokens?: boolean;
}

export async function startFaultProxy(upstream: string, opts: ProxyOptions = {}): Promise<FaultProxy> {
  if (!/^127\.0\.0\.1:\d+$/.test(upstream)) throw new Error(`fault proxy: upstream must be on loopback, got ${upstream}`);
  const upstreamPort = Number(upstream.split(":")[1]);
  const sockets = new Set<Socket>();
  const valid = new Set<string>();
  let self = "";
  const p: FaultProxy = {
    host: "",
    rules: [],
    log: [],
    tokensIssued: 0,
    issued: [],
    add(rule) {
      rule.hits = 0;
      p.rules.push(rule);
      return rule;
    },
    reset() {
      p.rules.length = 0;
      p.log.length = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
  const pick = (method: string, path: string): Rule | undefined => {
    for (const r of p.rules) {
      if (!r.path.test(path) || (r.method && r.method !== method) || (r.hits ?? 0) >= (r.times ?? Infinity)) continue;
      if ((r.skip ?? 0) > 0) {
        r.skip!--;
        continue;
      }
      return r;
    }
  };
  const challenge = () => ({ "www-authenticate": `Bearer realm="http://${self}/token",service="fault-proxy"`, "content-type": "application/json" });

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const method = req.method ?? "GET";
    const note = (outcome: string) => p.log.push({ method, path, outcome });
    if (opts.tokens && path === "/token") {
      const t = randomBytes(16).toString("hex");
      valid.add(t);
      p.issued.push(t);
      p.tokensIssued++;
      note("token");
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: t, expires_in: 300 }));
    }
    const rule = pick(method, path);
    if (opts.tokens && path.startsWith("/v2/") && rule?.fault.kind !== "expire-token") {
      const auth = String(req.headers.authorization ?? "");
      if (!valid.has(auth.replace(/^Bearer /, ""))) {
        note("401 (no valid token)");
        req.resume();
        return void res.writeHead(401, challenge()).end('{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}');
      }
    }
    if (rule) rule.hits = (rule.hits ?? 0) + 1;
    const f = rule?.fault;
    if (f?.kind === "status") {
      note(`fault ${f.status}`);
      req.resume();
      return void res.writeHead(f.status, { "content-type": "application/json", ...f.headers }).end(JSON.stringify({ errors: [{ code: f.code ?? "UNAVAILABLE", message: f.message ?? "injected fault" }] }));
    }
    if (f?.kind === "expire-token") {
      note("fault 401 (token expired)");
      // Only this request's token: other requests in flight at the same time (the image push runs
      // beside the cache writes) hold tokens of their own that did not expire.
      valid.delete(String(req.headers.authorization ?? "").replace(/^Bearer /, ""));
      req.resume();
      return void res.writeHead(401, challenge()).end('{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}');
    }
    if (f?.kind === "stall") {
      note("fault stall");
      req.resume(); // read the body, never answer
      return;
    }
    if (f?.kind === "reset" && hasBody(req)) {
      note("fault reset (request body)");
      let got = 0;
      req.on("data", (c: Buffer) => {
        got += c.length;
        if (got > 1024) req.socket.destroy();
      });
      req.on("end", () => req.socket.destroy());
      return;
    }
    if ((f?.kind === "truncate" || f?.kind === "corrupt") && hasBody(req)) return void mangleUpload(req, res, f.kind, note);
    forward(req, res, f, note);
  });

  // An upload whose bytes change on the way: the registry gets half of them, or one flipped.
  function mangleUpload(req: IncomingMessage, res: ServerResponse, kind: "truncate" | "corrupt", note: (o: string) => void): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      if (kind === "truncate") body = body.subarray(0, body.length >> 1);
      else if (body.length > 0) body[body.length >> 1] ^= 0xff;
      const headers = { ...req.headers, host: upstream, "content-length": String(body.length) };
      delete headers["transfer-encoding"];
      delete headers.authorization;
      const up = request({ host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers }, (ur) => {
        note(`fault ${kind} (request body) → ${ur.statusCode}`);
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on("error", () => res.socket?.destroy());
      up.end(body);
    });
  }

  function forward(req: IncomingMessage, res: ServerResponse, f: Fault | undefined, note: (o: string) => void): void {
    const headers = { ...req.headers, host: upstream };
    delete headers.authorization; // the proxy's own tokens mean nothing upstream
    const up = request({ host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers }, (ur) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined) h[k] = v;
      if (typeof h.location === "string") h.location = h.location.replace(`//${upstream}/`, `//${self}/`);
      const status = ur.statusCode ?? 502;
      if (!f || req.method === "HEAD" || status >= 300) {
        note(String(status));
        res.writeHead(status, h);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on("data", (c: Buffer) => chunks.push(c));
      ur.on("end", () => {
        const body = Buffer.concat(chunks);
        note(`${status} + fault ${f.kind}`);
        h["content-length"] = String(body.length);
        res.writeHead(status, h);
        const half = body.subarray(0, body.length >> 1);
        if (f.kind === "corrupt") {
          const bad = Buffer.from(body);
          if (bad.length > 0) bad[bad.length >> 1] ^= 0xff;
          res.end(bad);
        } else if (f.kind === "truncate") {
          res.write(half, () => res.socket?.end());
        } else {
          res.write(half, () => setTimeout(() => res.socket?.destroy(), 20));
        }
      });
    });
    up.on("error", () => {
      note("upstream error");
      res.socket?.destroy();
    });
    req.pipe(up);
  }

  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  self = `127.0.0.1:${(server.address() as { port: number }).port}`;
  p.host = self;
  return p;
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
}

// ---- kiln runs -------------------------------------------------------------------------------

export const ROOT = join(import.meta.dir, "..", "..");

export interface KilnRun {
  child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  done: Promise<{ code: number | null; signal: string | null; out: string; err: string; ms: number }>;
}

/**
 * `kiln ARGS` in one of its forms (Bun, Deno, the compiled binary: see forms.ts; the binary needs
 * `await kilnArgv("binary")` first), asynchronously (the proxy lives in this process, so a blocking
 * spawnSync would stall it). Killed after `timeoutMs`, so no run outlives its test.
 */
export function startKiln(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, runtime: Form = "bun"): KilnRun {
  const t0 = Date.now();
  const [cmd, ...pre] = kilnArgvSync(runtime);
  const child = spawn(cmd!, [...pre, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", KILN_REGISTRY_RETRIES: "2", KILN_REGISTRY_RETRY_DELAY_MS: "20", KILN_REGISTRY_TIMEOUT_MS: "1000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (err += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<{ code: number | null; signal: string | null; out: string; err: string; ms: number }>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0 });
    });
  });
  return { child, output: () => out + err, done };
}

/** A build context directory with a Dockerfile (and files). */
export function makeContext(dir: string, dockerfile: string, files: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return dir;
}

/** Run skopeo (against loopback registries only); status and output, never throws. */
export function skopeoRun(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync("skopeo", ["--insecure-policy", ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
