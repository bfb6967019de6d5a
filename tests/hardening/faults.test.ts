// Registry faults during real `kiln build` runs: a fault proxy sits between kiln and the real
// registry. A fault that persists must end in bounded retries and one clear error, with no
// manifest pushed (the tag is absent; the registry never saw the manifest PUT). The layer cache
// is best effort: a faulty cache is a miss or an unwritten entry (a warning), never a failed
// build, a wrong layer or a cache tag naming missing blobs. Faults that pass must be ridden out.
// The fault × phase matrix is printed at the end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, requireTool, type RegistryHandle } from "../env.ts";
import { accessLog, logSize } from "../registry/helpers.ts";
import { makeContext, skopeoRun, startFaultProxy, startKiln, type Fault, type FaultProxy } from "./proxy.ts";
import { kilnArgv } from "./forms.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-faults-"));
const work = join(tmp, "work");
let reg: RegistryHandle;
let plain: FaultProxy;
let tokened: FaultProxy;
let ctx: string;
const matrix: Record<string, Record<string, string>> = {};
const messages: string[] = [];

beforeAll(async () => {
  requireTool("skopeo", "skopeo");
  reg = await registry();
  await baseImages();
  plain = await startFaultProxy(reg.host);
  tokened = await startFaultProxy(reg.host, { tokens: true });
  await kilnArgv("binary");
  // A new layer (RUN) and a config must be uploaded; the base layer is mounted.
  ctx = makeContext(join(tmp, "ctx"), "ARG BASE\nFROM $BASE\nRUN echo faulty > /f.txt && head -c 20000 /dev/urandom > /noise\nCMD [\"cat\", \"/f.txt\"]\n");
  // Fill the cache the probe cells read, and check that without faults it is a hit.
  for (const name of ["warm-fill", "warm-hit"]) {
    const r = await build(plain, name, {}, PHASES["probe cache"].flags(plain).filter((f) => name === "warm-hit" || f !== "--no-push-cache")).run;
    if (r.code !== 0) throw new Error(`warming the cache failed:\n${r.err}`);
    if (name === "warm-hit" && !/cache: 1 of 1 steps were hits/.test(r.err)) throw new Error(`the warm cache is not hit:\n${r.err}`);
  }
});

afterAll(() => {
  plain?.close();
  tokened?.close();
  rmSync(tmp, { recursive: true, force: true });
  const faults = Object.keys(FAULTS);
  const rows = Object.entries(matrix).map(([phase, cells]) => ({ phase, ...Object.fromEntries(faults.map((f) => [f, cells[f] ?? "-"])) }));
  console.log("\nregistry fault matrix (persistent fault: exit code, attempts at the faulted request, seconds)");
  console.table(rows);
  console.log(messages.sort().join("\n"));
});

function build(proxy: FaultProxy, name: string, env: Record<string, string> = {}, extra: string[] = []) {
  const dest = `${proxy.host}/faults/${name}:1`;
  return {
    dest,
    direct: `${reg.host}/faults/${name}:1`,
    run: startKiln(["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${proxy.host}/busybox:latest`, "--insecure-registry", proxy.host, ...extra], { KILN_WORKDIR: work, ...env }).done,
  };
}

type Phase = "pull base" | "probe cache" | "push image" | "push cache";
const WARM = "faults/warm-cache";
const PHASES: Record<Phase, { method: string; path: (name: string) => RegExp; flags: (proxy: FaultProxy) => string[] }> = {
  // Config and layer blobs of the base image.
  "pull base": { method: "GET", path: () => /^\/v2\/busybox\/blobs\/sha256:/, flags: () => [] },
  // The manifest of each cache entry, all a lookup reads (a warm cache: without the fault, the RUN step is a hit).
  "probe cache": { method: "GET", path: () => new RegExp(`^/v2/${WARM}/manifests/`), flags: (p) => ["--cache", "--cache-repo", `${p.host}/${WARM}`, "--no-push-cache"] },
  // The final PUT of each blob upload (the body goes up with it).
  "push image": { method: "PUT", path: (name) => new RegExp(`^/v2/faults/${name}/blobs/uploads/`), flags: () => [] },
  // Blob uploads of new cache entries (default cache repo: <destination>/cache).
  "push cache": { method: "PUT", path: (name) => new RegExp(`^/v2/faults/${name}/cache/blobs/uploads/`), flags: () => ["--cache"] },
};
const isCache = (p: Phase) => p.endsWith("cache");

interface Expect {
  fault: Fault;
  message: RegExp;
  /** Least attempts at the faulted request [download, upload]: 3 = retried (KILN_REGISTRY_RETRIES=2). */
  least: [number, number];
  tokens?: boolean;
}
const FAULTS: Record<string, Expect> = {
  "HTTP 500": { fault: { kind: "status", status: 500 }, message: /answered 500/, least: [3, 3] },
  "HTTP 502": { fault: { kind: "status", status: 502 }, message: /answered 502/, least: [3, 3] },
  "HTTP 503": { fault: { kind: "status", status: 503 }, message: /answered 503/, least: [3, 3] },
  "429 Retry-After": { fault: { kind: "status", status: 429, headers: { "retry-after": "1" } }, message: /answered 429/, least: [3, 3] },
  // A rejected token is renewed once; rejected again, the credentials are what is wrong.
  "401 expired token": { fault: { kind: "expire-token" }, message: /unauthorized: registry 127\.0\.0\.1:\d+/, least: [2, 2], tokens: true },
  reset: { fault: { kind: "reset" }, message: /registry 127\.0\.0\.1:\d+: (GET|PUT) /, least: [3, 3] },
  // Pull: the body ends early. Push: the registry receives half the blob (DIGEST_INVALID); both retried.
  truncate: { fault: { kind: "truncate" }, message: /gave up after 2 retries|DIGEST_INVALID/, least: [3, 3] },
  // Pull: never retried, never used. Push: the registry saw other bytes; our copy is sound, so it is re-sent.
  "wrong bytes": { fault: { kind: "corrupt" }, message: /does not match its digest|DIGEST_INVALID/, least: [1, 3] },
  stall: { fault: { kind: "stall" }, message: /timed out: no data from the registry for 1 s/, least: [3, 3] },
};

describe.each(Object.keys(PHASES) as Phase[])("persistent faults while %s", (phase) => {
  const cache = isCache(phase);
  const title = cache ? "%s: bounded retries, a warning, a correct image, no cache entry used or half-written" : "%s: bounded retries, one clear error, no manifest pushed";
  test.each(Object.keys(FAULTS))(title, async (faultName) => {
    const e = FAULTS[faultName]!;
    const proxy = e.tokens ? tokened : plain;
    const name = `${phase.replace(" ", "-")}-${faultName.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`;
    const ph = PHASES[phase];
    proxy.reset();
    const rule = proxy.add({ method: ph.method, path: ph.path(name), fault: e.fault });
    const logFrom = logSize(reg.logFile);
    const b = build(proxy, name, {}, ph.flags(proxy));
    const r = await b.run;
    proxy.reset();
    const attempts = rule.hits ?? 0;
    (matrix[phase] ??= {})[faultName] = `${r.code} ×${attempts} ${(r.ms / 1000).toFixed(1)}s`;
    const lines = r.err.trim().split("\n");
    const said = cache ? lines.find((l) => /WARN cache: /.test(l)) ?? "(no cache warning)" : lines.at(-1)!;
    messages.push(`${phase} / ${faultName}: ${said.slice(0, 170)}`);

    if (!e.message.test(said)) console.log(r.err);
    expect(said).toMatch(e.message);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(attempts).toBeGreaterThanOrEqual(e.least[ph.method === "GET" ? 0 : 1]);
    if (faultName === "wrong bytes" && ph.method === "GET") expect(attempts).toBe(1);
    if (faultName.startsWith("429")) expect(r.ms).toBeGreaterThanOrEqual(2000); // Retry-After: 1, twice
    expect(attempts).toBeLessThanOrEqual(12); // bounded (a few blobs × 3 attempts at most)
    expect(r.ms).toBeLessThan(30_000);
    const pushedManifests = (repo: string) => accessLog(reg.logFile, logFrom).filter((l) => l.includes(`/v2/${repo}/manifests/`) && /"PUT /.test(l));
    if (cache) {
      // The cache never fails the build: the image is pushed and right, the step was rebuilt.
      expect(r.code).toBe(0);
      const cfg = JSON.parse(skopeoRun("inspect", "--config", "--tls-verify=false", `docker://${b.direct}`).out);
      expect(cfg.config.Cmd).toEqual(["cat", "/f.txt"]);
      expect(r.err).toMatch(/cache: 0 of 1 steps were hits/);
      // No cache entry was committed without its blobs.
      expect(pushedManifests(`faults/${name}/cache`)).toEqual([]);
      expect(pushedManifests(WARM)).toEqual([]);
    } else {
      expect(r.code).toBe(1); // a build failure, not an internal error (70) or a hang (killed)
      expect(lines.at(-1)!).toMatch(/^kiln: /);
      // Nothing half-pushed: no tag, and the registry never received the manifest.
      expect(skopeoRun("inspect", "--tls-verify=false", `docker://${b.direct}`).code).not.toBe(0);
      expect(pushedManifests(`faults/${name}`)).toEqual([]);
    }
    // The build cleaned up after itself.
    expect(readdirSync(work)).toEqual([]);
  });
});

describe("passing faults are ridden out", () => {
  test("one of each fault while pulling and pushing: the build succeeds and the image is right", async () => {
    const name = "recovers";
    plain.reset();
    const pull = PHASES["pull base"];
    const push = PHASES["push image"];
    // In order: each matching request consumes the first rule that still has a shot left.
    for (const f of ["HTTP 503", "429 Retry-After", "reset", "truncate", "stall", "HTTP 500"]) plain.add({ method: pull.method, path: pull.path(name), fault: FAULTS[f]!.fault, times: 1 });
    for (const f of ["HTTP 502", "reset", "stall", "429 Retry-After"]) plain.add({ method: push.method, path: push.path(name), fault: FAULTS[f]!.fault, times: 1 });
    plain.add({ method: "PUT", path: new RegExp(`^/v2/faults/${name}/manifests/`), fault: FAULTS["HTTP 503"]!.fault, times: 1 });
    const b = build(plain, name, { KILN_REGISTRY_RETRIES: "6" });
    const r = await b.run;
    const unused = plain.rules.filter((x) => x.hits !== 1).map((x) => `${x.method} ${x.fault.kind}`);
    plain.reset();
    expect(r.err).toContain("pushed");
    expect(r.code).toBe(0);
    expect(unused).toEqual([]); // every fault was really met
    const cfg = JSON.parse(skopeoRun("inspect", "--config", "--tls-verify=false", `docker://${b.direct}`).out);
    expect(cfg.config.Cmd).toEqual(["cat", "/f.txt"]);
    expect(cfg.rootfs.diff_ids.length).toBe(2);
    expect(skopeoRun("copy", "--src-tls-verify=false", `docker://${b.direct}`, `dir:${join(tmp, "recovered")}`).code).toBe(0); // every blob readable
  });

  test.each(["deno", "binary"] as const)("on %s too: a stalled, a reset and a truncated download, a reset upload", async (form) => {
    const name = `recovers-${form}`;
    plain.reset();
    for (const kind of ["stall", "reset", "truncate"] as const) plain.add({ method: "GET", path: PHASES["pull base"].path(name), fault: { kind }, times: 1 });
    plain.add({ method: "PUT", path: PHASES["push image"].path(name), fault: { kind: "reset" }, times: 1 });
    const dest = `${plain.host}/faults/${name}:1`;
    const args = ["build", "-c", ctx, "-d", dest, "--build-arg", `BASE=${plain.host}/busybox:latest`, "--insecure-registry", plain.host];
    const r = await startKiln(args, { KILN_WORKDIR: work, KILN_REGISTRY_RETRIES: "4" }, 60_000, form).done;
    const hits = plain.rules.map((x) => x.hits);
    plain.reset();
    expect(r.err).toContain("pushed");
    expect(r.code).toBe(0);
    expect(hits).toEqual([1, 1, 1, 1]);
    expect(skopeoRun("copy", "--src-tls-verify=false", `docker://${reg.host}/faults/${name}:1`, `dir:${join(tmp, `recovered-${form}`)}`).code).toBe(0);
  });

  test("a token that expires mid-pull and mid-push is renewed", async () => {
    const name = "token-renewed";
    tokened.reset();
    const issued = tokened.tokensIssued;
    tokened.add({ method: "GET", path: PHASES["pull base"].path(name), fault: { kind: "expire-token" }, times: 1, skip: 1 });
    tokened.add({ method: "PUT", path: PHASES["push image"].path(name), fault: { kind: "expire-token" }, times: 1 });
    const b = build(tokened, name);
    const r = await b.run;
    const hits = tokened.rules.map((x) => x.hits);
    tokened.reset();
    expect(r.code).toBe(0);
    expect(hits).toEqual([1, 1]);
    expect(tokened.tokensIssued - issued).toBeGreaterThanOrEqual(3);
    expect(skopeoRun("inspect", "--tls-verify=false", `docker://${b.direct}`).code).toBe(0);
  });
});
