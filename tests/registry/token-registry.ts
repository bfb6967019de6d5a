// A real CNCF distribution registry with `auth.token`, plus a tiny loopback token server that
// signs JWTs (RS256) for it — what Docker Hub, GHCR and Harbor do, on 127.0.0.1.
import { spawn, spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, createSign, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../scripts/lib/free-port.ts";
import { REGISTRY_BIN } from "../../scripts/registry.ts";
import { requireTool } from "../env.ts";

export interface TokenRequest {
  scopes: string[];
  service?: string;
  account?: string;
  basicUser?: string;
  method: string;
}

export interface TokenRegistry {
  host: string;
  logFile: string;
  tokenRequests: TokenRequest[];
  username: string;
  password: string;
  /** The next token says expires_in 300 but is already expired (as after a clock jump or revocation). */
  expireNextToken(): void;
  stop(): void;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** libtrust's key ID, which distribution matches against the JWT "kid". */
function libtrustKeyId(spkiDer: Buffer): string {
  const b32 = base32(createHash("sha256").update(spkiDer).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(":");
}

function base32(buf: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

export async function startTokenRegistry(): Promise<TokenRegistry> {
  requireTool("openssl", "openssl");
  requireTool("docker-registry", "docker-registry");
  const dir = mkdtempSync(join(tmpdir(), "kiln-token-registry-"));
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=kiln-token"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const key = createPrivateKey(readFileSync(keyFile));
  const kid = libtrustKeyId(createPublicKey(key).export({ type: "spki", format: "der" }));
  const username = "bearer-user";
  const password = randomBytes(9).toString("base64url");
  const tokenRequests: TokenRequest[] = [];
  let expireNext = false;

  const sign = (access: { type: string; name: string; actions: string[] }[], service: string) => {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
    const exp = expireNext ? now - 3600 : now + 300;
    expireNext = false;
    const claims = b64url(JSON.stringify({ iss: "kiln-test-issuer", sub: username, aud: service, exp, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access }));
    const sig = createSign("RSA-SHA256").update(`${header}.${claims}`).sign(key);
    return `${header}.${claims}.${b64url(sig)}`;
  };

  const tokenPort = await freePort();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${tokenPort}`);
    const scopes = url.searchParams.getAll("scope");
    const auth = req.headers.authorization;
    let basicUser: string | undefined;
    if (auth?.startsWith("Basic ")) {
      const [u, p] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      if (u !== username || p !== password) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="token"' }).end();
        return;
      }
      basicUser = u;
    }
    tokenRequests.push({ scopes, service: url.searchParams.get("service") ?? undefined, account: url.searchParams.get("account") ?? undefined, basicUser, method: req.method ?? "" });
    // Anonymous callers get pull only; authenticated ones get what they ask for.
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(":");
      const acts = (actions ?? "").split(",").filter((a) => basicUser || a === "pull");
      return { type: type!, name: name!, actions: acts };
    });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: sign(access, url.searchParams.get("service") ?? ""), expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(tokenPort, "127.0.0.1", resolve));

  const port = await freePort();
  const logFile = join(dir, "registry.log");
  writeFileSync(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log:",
      "  level: info",
      "  accesslog:",
      "    disabled: false",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(join(dir, "data"))}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(8).toString("hex")}`,
      "auth:",
      "  token:",
      `    realm: http://127.0.0.1:${tokenPort}/token`,
      "    service: kiln-test-registry",
      "    issuer: kiln-test-issuer",
      `    rootcertbundle: ${certFile}`,
      "",
    ].join("\n"),
  );
  const out = (await import("node:fs")).openSync(logFile, "a");
  const child = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", out, out] });
  const kill = () => {
    child.kill("SIGKILL");
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", kill);
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (res.status === 401) break;
    } catch {
      /* not up yet */
    }
    if (i > 100) throw new Error(`token registry did not start: ${readFileSync(logFile, "utf8")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, logFile, tokenRequests, username, password, expireNextToken: () => void (expireNext = true), stop: kill };
}
