// The layer cache end to end (issue 7): rebuilds reproduce the first build exactly, cache hits
// never unpack or run anything, and each kind of change invalidates exactly the steps it should.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, type BaseImageRefs, type RegistryHandle } from "../env.ts";
import { imageFiles } from "./image-files.ts";
import { hitMiss, kilnBuild } from "./kiln-build.ts";

const root = join(import.meta.dir, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "kiln-cache-e2e-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let bases: BaseImageRefs;
beforeAll(async () => {
  reg = await registry();
  bases = await baseImages();
});

const build = (ctx: string, dest: string, args: string[]) => kilnBuild(tmp, ctx, dest, args);
const hm = hitMiss;

test("a big layer reaches the destination by a mount from the cache repo, not a second upload", async () => {
  const ctx = join(tmp, "big-layer");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN head -c 300000 /dev/urandom > /big\n");
  const a = build(ctx, `${reg.host}/cache/big-layer:1`, ["--cache", "--build-arg", `BASE=${bases.busybox}`]);
  expect(a.code).toBe(0);
  expect(a.err).toMatch(/blobs: 1 uploaded, 2 mounted, 0 already there/);
  expect((await imageFiles(`${reg.host}/cache/big-layer:1`)).files.has("big")).toBe(true);
});

test("RUN date gives the same date on a rebuild, and the same image", async () => {
  const ctx = join(tmp, "date");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN date +%s.%N > /date\nRUN sleep 1; date +%s.%N > /date2\n");
  const dest = `${reg.host}/cache/date:1`;
  const a = build(ctx, dest, ["--cache", "--build-arg", `BASE=${bases.busybox}`]);
  expect(a.code).toBe(0);
  expect(hm(a)).toBe("MM");
  // The base layer is mounted from its repository; the two RUN layers (a few hundred bytes each)
  // and the config are uploaded while the cache writes run (registry/early-push.ts: a small layer
  // is not worth waiting for its cache write to mount it; a big one is mounted from the cache).
  expect(a.err).toMatch(/blobs: 3 uploaded, 1 mounted, 0 already there/);
  const first = await imageFiles(dest);
  const b = build(ctx, `${reg.host}/cache/date:2`, ["--cache", "--cache-repo", `${reg.host}/cache/date/cache`, "--build-arg", `BASE=${bases.busybox}`]);
  expect(b.code).toBe(0);
  expect(hm(b)).toBe("HH");
  expect(b.err).not.toContain("unpacked"); // a fully cached build never touches a filesystem
  const second = await imageFiles(`${reg.host}/cache/date:2`);
  expect(second.content.get("date")).toBe(first.content.get("date")!);
  expect(second.content.get("date2")).toBe(first.content.get("date2")!);
  expect([...second.files]).toEqual([...first.files]);
});

test("--reproducible: a fully cached rebuild has the cold build's digest", async () => {
  const ctx = join(tmp, "repro");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN echo one > /one\nCOPY Dockerfile /df\nENV A=b\nRUN echo two > /two\n");
  const args = ["--cache", "--reproducible", "--build-arg", `BASE=${bases.busybox}`, "--cache-repo", `${reg.host}/cache/repro-cache`];
  const a = build(ctx, `${reg.host}/cache/repro:a`, args);
  const b = build(ctx, `${reg.host}/cache/repro:b`, args);
  expect(a.code).toBe(0);
  expect(b.code).toBe(0);
  expect(hm(b)).toBe("HHH");
  expect((await imageFiles(`${reg.host}/cache/repro:b`)).digest).toBe((await imageFiles(`${reg.host}/cache/repro:a`)).digest);
});

// One Dockerfile exercising every input a key depends on. Steps with a filesystem effect,
// in report order: dep RUN | COPY app | RUN $V | COPY --from=dep | COPY to $D | RUN $E
const INVALIDATION = `ARG BASE
FROM $BASE AS dep
ARG DEPV=1
RUN echo "dep $DEPV" > /dep

FROM $BASE
ARG V=1
ENV E=1
LABEL l=1
COPY app/ /app/
RUN echo "v=$V" > /v
COPY --from=dep /dep /dep
ARG D=/dest
COPY f.txt $D/f.txt
RUN echo "e=$E" > /e && ls -l /app > /app-listing
`;

function invalidationContext(name: string): string {
  const ctx = join(tmp, name);
  mkdirSync(join(ctx, "app"), { recursive: true });
  writeFileSync(join(ctx, "Dockerfile"), INVALIDATION);
  writeFileSync(join(ctx, ".dockerignore"), "**/*.log\n");
  writeFileSync(join(ctx, "app", "a.txt"), "a\n");
  writeFileSync(join(ctx, "app", "b.txt"), "b\n");
  writeFileSync(join(ctx, "app", "c.txt"), "a\n");
  writeFileSync(join(ctx, "app", "debug.log"), "log 1\n");
  writeFileSync(join(ctx, "f.txt"), "f\n");
  return ctx;
}

interface Change {
  name: string;
  /** Mutate the context and return extra build args (base and args of the changed build). */
  apply(ctx: string): string[];
  expect: string;
  /** --reproducible builds: the cached image must have the uncached one's digest, too. */
  sameDigest?: boolean;
}

const CHANGES: Change[] = [
  { name: "copied file content", apply: (c) => (writeFileSync(join(c, "app", "a.txt"), "A\n"), []), expect: "HMMMMM" },
  { name: "copied file renamed", apply: (c) => (renameSync(join(c, "app", "a.txt"), join(c, "app", "c.txt")), []), expect: "HMMMMM" },
  { name: "copied file chmod", apply: (c) => (chmodSync(join(c, "app", "a.txt"), 0o755), []), expect: "HMMMMM" },
  { name: "file added", apply: (c) => (writeFileSync(join(c, "app", "new.txt"), "new\n"), []), expect: "HMMMMM" },
  { name: "ignored file changed", apply: (c) => (writeFileSync(join(c, "app", "debug.log"), "log 2\n"), []), expect: "HHHHHH" },
  { name: "build arg used by a RUN", apply: () => ["--build-arg", "V=2"], expect: "HHMMMM" },
  // COPY app/ reads no ENV: only the RUN that sees it (and what chains from it) runs again.
  { name: "ENV before a RUN", apply: (c) => (writeFileSync(join(c, "Dockerfile"), INVALIDATION.replace("ENV E=1", "ENV E=2")), []), expect: "HHMMMM" },
  // Issue 20: finer invalidation, and every flag that shapes layers in the key.
  { name: "LABEL changed", apply: (c) => (writeFileSync(join(c, "Dockerfile"), INVALIDATION.replace("LABEL l=1", "LABEL l=2")), []), expect: "HHHHHH" },
  { name: "ignore-path added", apply: () => ["--ignore-path", "/app"], expect: "MMMMMM" },
  { name: "reproducible added", apply: () => ["--reproducible"], expect: "MMMMMM", sameDigest: true },
  { name: "compression zstd", apply: () => ["--compression", "zstd"], expect: "MMMMMM" },
  { name: "copied file made a hard link", apply: (c) => (rmSync(join(c, "app", "c.txt")), linkSync(join(c, "app", "a.txt"), join(c, "app", "c.txt")), []), expect: "HMMMMM" },
  { name: "base image digest", apply: () => ["--build-arg", `BASE=${bases.busyboxV2s2}`], expect: "MMMMMM" },
  { name: "stage used by COPY --from", apply: () => ["--build-arg", "DEPV=2"], expect: "MHHMMM" },
  { name: "COPY destination from $VAR", apply: () => ["--build-arg", "D=/other"], expect: "HHHHMM" },
];

describe("each change invalidates exactly the steps it should", () => {
  for (const change of CHANGES) {
    test(change.name, async () => {
      const slug = change.name.toLowerCase().replace(/\W+/g, "-").replace(/^-+|-+$/g, "");
      const ctx = invalidationContext(slug);
      const cacheRepo = `${reg.host}/inval/${slug}/cache`;
      const base = ["--build-arg", `BASE=${bases.busybox}`];
      const first = build(ctx, `${reg.host}/inval/${slug}:first`, [...base, "--cache", "--cache-repo", cacheRepo]);
      expect(first.code).toBe(0);
      expect(hm(first)).toBe("MMMMMM");
      const extra = change.apply(ctx);
      const cached = build(ctx, `${reg.host}/inval/${slug}:cached`, [...base, ...extra, "--cache", "--cache-repo", cacheRepo]);
      expect(cached.err).not.toContain("internal error");
      expect(cached.code).toBe(0);
      expect(hm(cached)).toBe(change.expect);
      // The image built from cache equals a no-cache build of the same inputs, file for file.
      const fresh = build(ctx, `${reg.host}/inval/${slug}:fresh`, [...base, ...extra]);
      expect(fresh.code).toBe(0);
      const a = await imageFiles(`${reg.host}/inval/${slug}:cached`);
      const b = await imageFiles(`${reg.host}/inval/${slug}:fresh`);
      expect([...a.files]).toEqual([...b.files]);
      expect(a.config).toEqual(b.config);
      expect(a.mediaTypes).toEqual(b.mediaTypes);
      if (change.sameDigest) expect(a.digest).toBe(b.digest);
    });
  }
});

test("issue 20 item 5: only COPY left and /etc/passwd a symlink: the cached build resolves --chown as the uncached one", async () => {
  const ctx = join(tmp, "passwd-link");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN mv /etc/passwd /etc/passwd.real && ln -s passwd.real /etc/passwd && echo 'app:x:1234:2345::/home/app:/bin/sh' >> /etc/passwd.real\nCOPY --chown=app f.txt /f.txt\n");
  writeFileSync(join(ctx, "f.txt"), "1\n");
  const args = ["--build-arg", `BASE=${bases.busybox}`];
  const cache = [...args, "--cache", "--cache-repo", `${reg.host}/passwd-link/cache`];
  expect(build(ctx, `${reg.host}/passwd-link:1`, cache).code).toBe(0);
  writeFileSync(join(ctx, "f.txt"), "2\n");
  const cached = build(ctx, `${reg.host}/passwd-link:2`, cache);
  expect(cached.err).toMatch(/tree only/);
  expect(cached.code).toBe(0);
  expect(build(ctx, `${reg.host}/passwd-link:fresh`, args).code).toBe(0);
  const a = await imageFiles(`${reg.host}/passwd-link:2`);
  const b = await imageFiles(`${reg.host}/passwd-link:fresh`);
  expect([...a.files]).toEqual([...b.files]);
  expect(a.files.get("f.txt")).toMatchObject({ uid: 1234, gid: 2345 });
});

test("a cached build with a changed context copies it fresh (no stale layer)", async () => {
  const ctx = invalidationContext("stale");
  const cacheRepo = `${reg.host}/stale/cache`;
  const base = ["--build-arg", `BASE=${bases.busybox}`, "--cache", "--cache-repo", cacheRepo];
  expect(build(ctx, `${reg.host}/stale:1`, base).code).toBe(0);
  writeFileSync(join(ctx, "app", "a.txt"), "changed\n");
  expect(build(ctx, `${reg.host}/stale:2`, base).code).toBe(0);
  expect((await imageFiles(`${reg.host}/stale:2`)).content.get("app/a.txt")).toBe("changed\n");
  cpSync(ctx, ctx + "-copy", { recursive: true }); // a fresh checkout elsewhere hits the same entries
  const again = build(ctx + "-copy", `${reg.host}/stale:3`, base);
  expect(hm(again)).toBe("HHHHHH");
});

test("when only COPY and WORKDIR are left to run, the rootfs is a tree without file contents, and the image is the same", async () => {
  const ctx = join(tmp, "tree-only");
  mkdirSync(join(ctx, "conf", "sub"), { recursive: true });
  // The RUN leaves files the COPYs must not disturb: a big file, a hard link to it, and files
  // in the directory the first COPY merges into. The last stage copies from the tree-only stage.
  writeFileSync(join(ctx, "Dockerfile"), `ARG BASE
FROM $BASE AS app
RUN head -c 300000 /dev/urandom > /big && ln /big /big-link && mkdir -p /etc/conf/sub && echo keep > /etc/conf/sub/old.txt
COPY conf/ /etc/conf/
COPY --chown=nobody:nogroup f.txt /f.txt
USER user
WORKDIR /home/w

FROM $BASE
COPY --from=app /big /etc/conf /out/
`);
  writeFileSync(join(ctx, "conf", "sub", "new.txt"), "new\n");
  writeFileSync(join(ctx, "f.txt"), "f\n");
  const cache = ["--build-arg", `BASE=${bases.busybox}`, "--cache", "--cache-repo", `${reg.host}/tree-only/cache`];
  const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  let bigSha = "";
  for (const target of ["app", "final"]) {
    const t = target === "app" ? ["--target", "app"] : [];
    writeFileSync(join(ctx, "f.txt"), `f for ${target}\n`);
    const first = build(ctx, `${reg.host}/tree-only:${target}-1`, [...cache, ...t]);
    expect(first.code).toBe(0);
    writeFileSync(join(ctx, "conf", "sub", "new.txt"), `changed for ${target}\n`);
    const cached = build(ctx, `${reg.host}/tree-only:${target}-2`, [...cache, ...t]);
    expect(cached.code).toBe(0);
    expect(cached.err).toMatch(/unpacked \d+ layer\(s\) in [\d.]+s \(tree only/);
    const fresh = build(ctx, `${reg.host}/tree-only:${target}-fresh`, ["--build-arg", `BASE=${bases.busybox}`, ...t]);
    expect(fresh.code).toBe(0);
    expect(fresh.err).toMatch(/\[stage 1\/\d\] unpacked 1 layer\(s\) in [\d.]+s\n/); // the RUN needs real files
    const a = await imageFiles(`${reg.host}/tree-only:${target}-2`);
    const b = await imageFiles(`${reg.host}/tree-only:${target}-fresh`);
    expect([...a.files].filter(([k]) => k !== "big" && k !== "big-link" && k !== "out/big")).toEqual([...b.files].filter(([k]) => k !== "big" && k !== "big-link" && k !== "out/big"));
    expect(a.config).toEqual(b.config);
    if (target === "app") {
      // The COPY layer holds what it copied, not the untouched (and never unpacked) files around it.
      expect(a.content.get("etc/conf/sub/old.txt")).toBe("keep\n");
      expect(a.content.get("etc/conf/sub/new.txt")).toBe("changed for app\n");
      expect(a.files.get("f.txt")).toMatchObject({ uid: 65534, gid: 65534 });
      expect(a.files.get("home/w")).toMatchObject({ type: "dir", uid: 1000 });
      bigSha = a.files.get("big")!.sha256!;
      expect(bigSha).not.toBe(EMPTY_SHA256);
    } else {
      expect(a.files.get("out/big")!.sha256).toBe(bigSha); // the real bytes, from the cached RUN layer
      expect(a.content.get("out/sub/old.txt")).toBe("keep\n");
      expect(a.content.get("out/sub/new.txt")).toBe("changed for final\n");
    }
  }
});

test("debian: a rebuild from empty local state does not run apt again", async () => {
  const deb = (await baseImages({ debian: true })).debian!;
  const ctx = join(tmp, "apt");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*\nRUN make --version | head -1 > /make-version\n");
  const args = ["--cache", "--reproducible", "--build-arg", `BASE=${deb}`, "--cache-repo", `${reg.host}/cache/apt-cache`];
  const cold = build(ctx, `${reg.host}/cache/apt:cold`, args);
  expect(cold.code).toBe(0);
  expect(cold.err).toContain("Setting up make");
  const warm = build(ctx, `${reg.host}/cache/apt:warm`, args);
  expect(warm.code).toBe(0);
  expect(hm(warm)).toBe("HH");
  expect(warm.err).not.toContain("Setting up make"); // apt never ran
  expect(warm.err).not.toContain("unpacked"); // the rootfs was never unpacked
  const a = await imageFiles(`${reg.host}/cache/apt:cold`);
  const b = await imageFiles(`${reg.host}/cache/apt:warm`);
  expect(b.digest).toBe(a.digest);
  expect(b.content.get("make-version")).toMatch(/^GNU Make/);
});

test("kiln plan shows hits and misses without building", () => {
  const ctx = join(tmp, "plan");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN echo a > /a\nCOPY Dockerfile /df\n");
  const args = ["-c", ctx, "-d", `${reg.host}/cache/plan:1`, "--cache", "--build-arg", `BASE=${bases.busybox}`];
  const kiln = (cmd: string) => spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "mod.ts"), cmd, ...args], { encoding: "utf8" });
  const before = kiln("plan");
  expect(before.status).toBe(0);
  expect(before.stdout).toMatch(/step +1 +MISS +[0-9a-f]{12} +RUN echo a > \/a/);
  expect(before.stdout).toContain("0 of 2 steps would be cache hits");
  expect(before.stderr).not.toContain("unpacked");
  expect(kiln("build").status).toBe(0);
  const after = kiln("plan");
  expect(after.stdout).toContain("2 of 2 steps would be cache hits");
});

test("--cache-dir: layers warmed by `kiln warm` are not downloaded again", async () => {
  const cacheDir = join(tmp, "warm-cache");
  const bun = join(root, "node_modules", ".bin", "bun");
  const w = spawnSync(bun, [join(root, "mod.ts"), "warm", "--image", bases.busybox, "--cache-dir", cacheDir], { encoding: "utf8" });
  expect(w.stderr).toBe("");
  expect(w.status).toBe(0);
  const layer = (await imageFiles(bases.busybox)).digest; // also proves the image is readable
  expect(layer).toMatch(/^sha256:/);
  const ctx = join(tmp, "warm");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN echo warm > /w\n");
  const blobGets = () => readFileSync(reg.logFile, "utf8").split("\n").filter((l) => /GET \/v2\/busybox\/blobs\/sha256:/.test(l)).length;
  const before = blobGets();
  const b = build(ctx, `${reg.host}/cache/warm:1`, ["--cache-dir", cacheDir, "--build-arg", `BASE=${bases.busybox}`]);
  expect(b.code).toBe(0);
  expect(blobGets()).toBe(before + 1); // the config blob only; the layer came from --cache-dir
});

test("--cache-repo oci:DIR keeps the cache in a local OCI layout", async () => {
  const ctx = join(tmp, "oci-cache");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), "ARG BASE\nFROM $BASE\nRUN echo local > /l\n");
  const cacheDir = join(tmp, "oci-cache-layout");
  const args = ["--no-push", "--cache", "--cache-repo", `oci:${cacheDir}`, "--build-arg", `BASE=${bases.busybox}`, "--reproducible"];
  const a = build(ctx, `${reg.host}/unused:1`, [...args, "--oci-layout-path", join(tmp, "oci-out-a")]);
  expect(a.code).toBe(0);
  expect(hm(a)).toBe("M");
  expect(JSON.parse(readFileSync(join(cacheDir, "index.json"), "utf8")).manifests.length).toBe(1);
  const b = build(ctx, `${reg.host}/unused:1`, [...args, "--oci-layout-path", join(tmp, "oci-out-b")]);
  expect(hm(b)).toBe("H");
  const digestOf = (d: string) => JSON.parse(readFileSync(join(tmp, d, "index.json"), "utf8")).manifests[0].digest;
  expect(digestOf("oci-out-b")).toBe(digestOf("oci-out-a"));
});
