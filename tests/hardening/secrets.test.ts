// Secrets stay secret: registry passwords (docker config.json), Bearer tokens and the values of
// build args with secret-looking names (*_KEY, *TOKEN*, *PASSWORD*, *SECRET*) must appear neither
// in kiln's output at any verbosity, text or JSON, nor in error messages, nor anywhere in the
// built image (config blob, manifest, every layer decompressed).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { authRegistry, baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { makeContext, skopeoRun, startFaultProxy, startKiln, type FaultProxy } from "./proxy.ts";
import { FORMS, kilnArgv, kilnIn } from "./forms.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-secrets-"));
let auth: RegistryHandle;
let proxy: FaultProxy;
let base: string;
let dockerConfig: string;
let creds: string;

// Planted values: random, so a hit can only come from a leak.
const plant = (tag: string) => `${tag}-${randomBytes(9).toString("hex")}`;
const ARGS = { API_TOKEN: plant("tok"), DB_PASSWORD: plant("pw"), SSH_KEY: plant("key"), MY_SECRET: plant("sec") };
const DOCKERFILE = `ARG BASE
FROM $BASE
ARG API_TOKEN
ARG DB_PASSWORD
ARG SSH_KEY
ARG MY_SECRET
ARG PLAIN
RUN echo "token is $API_TOKEN" && echo "pw $DB_PASSWORD key $SSH_KEY sec $MY_SECRET plain $PLAIN" && echo "$API_TOKEN$DB_PASSWORD" | wc -c > /len
COPY f.txt /f.txt
`;
const buildArgs = Object.entries(ARGS).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);

beforeAll(async () => {
  requireTool("skopeo", "skopeo");
  auth = await authRegistry();
  const plain = await registry();
  const bb = (await baseImages()).busybox;
  creds = `${auth.username}:${auth.password}`;
  base = `${auth.host}/secrets/busybox:latest`;
  const c = skopeoRun("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--dest-creds", creds, `docker://${bb}`, `docker://${base}`);
  if (c.code !== 0) throw new Error(`pushing the base to the auth registry failed: ${c.err}`);
  dockerConfig = join(tmp, "docker");
  mkdirSync(dockerConfig);
  writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(creds).toString("base64") } } }));
  proxy = await startFaultProxy(plain.host, { tokens: true });
  await kilnArgv("binary");
}, 300_000);

afterAll(() => {
  proxy?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Every secret that must not leak, with a name for the failure message. */
function secrets(extra: Record<string, string> = {}): Record<string, string> {
  return { password: auth.password!, basicAuth: Buffer.from(creds).toString("base64"), ...ARGS, ...extra };
}

function leaks(text: string | Buffer, values: Record<string, string>): string[] {
  const s = typeof text === "string" ? text : text.toString("latin1");
  return Object.entries(values).filter(([, v]) => s.includes(v)).map(([k]) => k);
}

/** Pull the image with skopeo and scan the manifest, config and every layer (decompressed). */
function imageLeaks(ref: string, values: Record<string, string>, credsFlag: string[]): string[] {
  const dir = join(tmp, `image-${randomBytes(4).toString("hex")}`);
  const c = skopeoRun("copy", "--src-tls-verify=false", ...credsFlag, `docker://${ref}`, `dir:${dir}`);
  if (c.code !== 0) throw new Error(`skopeo copy ${ref}: ${c.err}`);
  const found: string[] = [];
  let scanned = 0;
  for (const f of readdirSync(dir)) {
    let bytes = readFileSync(join(dir, f));
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    scanned++;
    for (const k of leaks(bytes, values)) found.push(`${k} in ${f}`);
  }
  expect(scanned).toBeGreaterThanOrEqual(5); // manifest, version, config, base layer, RUN layer, COPY layer
  return found;
}

describe("secrets", () => {
  test.each(FORMS.flatMap((form) => [
    ["text", "trace", form],
    ["json", "trace", form],
    ["text", "info", form],
  ]))("registry credentials and secret build args never reach the output (--log-format %s, -v %s) or the image (%s)", async (format, level, form) => {
    const ctx = makeContext(join(tmp, `ctx-${format}-${level}-${form}`), DOCKERFILE, { "f.txt": "not secret\n" });
    const dest = `${auth.host}/secrets/app-${format}-${level}-${form}:1`;
    const r = await startKiln(["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${base}`, "--build-arg", "PLAIN=visible-value", ...buildArgs, "-v", level, "--log-format", format], {
      DOCKER_CONFIG: dockerConfig,
    }, 120_000, form).done;
    const out = r.out + r.err;
    expect(r.err).toContain("pushed");
    expect(r.code).toBe(0);
    expect(out).toContain("visible-value"); // the RUN output really is in the log…
    expect(out).toContain("token is ***"); // …with the secret values masked
    expect(leaks(out, secrets())).toEqual([]);
    expect(imageLeaks(dest, secrets(), ["--src-creds", creds])).toEqual([]);
  });

  test.each(FORMS)("Bearer tokens never reach the output at -v trace (%s)", async (form) => {
    const ctx = makeContext(join(tmp, `ctx-bearer-${form}`), "ARG BASE\nFROM $BASE\nRUN echo bearer\n");
    const dest = `${proxy.host}/secrets/bearer-${form}:1`;
    const r = await startKiln(["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${proxy.host}/busybox:latest`, "--insecure-registry", proxy.host, "-v", "trace"], {}, 120_000, form).done;
    expect(r.code).toBe(0);
    expect(proxy.issued.length).toBeGreaterThan(0);
    const tokens = Object.fromEntries(proxy.issued.map((t, i) => [`token${i}`, t]));
    expect(leaks(r.out + r.err, tokens)).toEqual([]);
  });

  test.each(FORMS)("a rejected password is not in the error message (%s)", async (form) => {
    const wrong = plant("wrong-pw");
    const bad = join(tmp, `docker-bad-${form}`);
    mkdirSync(bad);
    writeFileSync(join(bad, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(`${auth.username}:${wrong}`).toString("base64") } } }));
    const ctx = makeContext(join(tmp, `ctx-bad-${form}`), "ARG BASE\nFROM $BASE\nRUN true\n");
    const r = await startKiln(["build", "-c", ctx, "-d", `${auth.host}/secrets/bad:1`, "--build-arg", `BASE=${base}`, "-v", "trace"], { DOCKER_CONFIG: bad }, 120_000, form).done;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unauthorized: registry 127\.0\.0\.1:\d+/);
    expect(leaks(r.out + r.err, { wrong, wrongBasic: Buffer.from(`${auth.username}:${wrong}`).toString("base64") })).toEqual([]);
  });

  test.each(FORMS)("a secret build arg in a failing step's error message is masked (%s)", async (form) => {
    // COPY names a path made from the secret: the error names the missing source.
    const ctx = makeContext(join(tmp, `ctx-fail-${form}`), "ARG BASE\nFROM $BASE\nARG API_TOKEN\nCOPY /$API_TOKEN /x\n");
    const r = await startKiln(["build", "-c", ctx, "--no-push", "--build-arg", `BASE=${base}`, ...buildArgs], { DOCKER_CONFIG: dockerConfig }, 120_000, form).done;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Dockerfile:4: /);
    expect(leaks(r.out + r.err, ARGS)).toEqual([]);
  });
});

describe("credentials typed into flags, references and URLs are not echoed", () => {
  // A user:password in a reference or URL is a typo away from every CI log: every message that
  // names it must hide it, in every form kiln ships in. Loopback port 1 is closed, so ADD fails.
  const pw = plant("typed-pw");
  const cases: [string, string[], string, RegExp][] = [
    ["--destination user:password@host/x:t", ["-d", `user:${pw}@host/x:t`], "FROM scratch\n", /^kiln: flag --destination: \*\*\*@host\/x:t: credentials do not belong in an image location/m],
    ["--destination https://user:password@host/x", ["-d", `https://user:${pw}@127.0.0.1:1/x:t`], "FROM scratch\n", /^kiln: flag --destination: .*\*\*\*@/m],
    ["--cache-repo user:password@host/x", ["--no-push", "--cache", "--cache-repo", `user:${pw}@127.0.0.1:1/cache`], "FROM scratch\nCOPY f /f\n", /\*\*\*@127\.0\.0\.1:1\/cache/],
    ["FROM user:password@host/x", ["--no-push"], `FROM user:${pw}@127.0.0.1:1/x:t\n`, /^kiln: Dockerfile:1: base image: \*\*\*@127\.0\.0\.1:1\/x:t: credentials do not belong in an image location/m],
    ["ADD http://user:password@host/file", ["--no-push"], `FROM scratch\nADD http://user:${pw}@127.0.0.1:1/file /file\n`, /^kiln: Dockerfile:2: ADD http:\/\/\*\*\*@127\.0\.0\.1:1\/file: download failed/m],
  ];
  for (const form of FORMS) {
    test.each(cases)(`%s (${form})`, async (_name, args, dockerfile, message) => {
      const ctx = makeContext(join(tmp, `ctx-typed-${form}-${randomBytes(3).toString("hex")}`), dockerfile, { f: "f" });
      const r = await kilnIn(form, ["build", "-c", ctx, ...args, "-v", "trace"], { env: { KILN_REGISTRY_RETRIES: "0" } });
      expect(r.err).toMatch(message);
      expect(r.code === 1 || r.code === 2).toBe(true);
      expect(leaks(r.out + r.err, { pw })).toEqual([]);
    }, 300_000);
  }
});
