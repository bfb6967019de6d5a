// Issue 20's property test: random sequences of mutations of a small context and Dockerfile
// (fixed seed, bounded cases). After each one the cached build (in-memory store, kept across the
// sequence) must give exactly the uncached build's image: files with their metadata, config,
// history and media types. No stale hit, ever. Needless misses (a step that missed but wrote a
// layer byte-identical to one the cache already held) are counted and reported, not failed.
import { beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryCacheStore } from "../../src/cache/memory-store.ts";
import { readOciLayout, writeOciLayout } from "../../src/image/layout.ts";
import { withConfig } from "../../src/image/mutate.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { baseImages, baseLayouts, registry } from "../env.ts";
import { imageFiles } from "./image-files.ts";
import { buildIn, imageTree, tempDir } from "./stage-harness.ts";

const SEED = 20;
const CASES = 10;
const tmp = tempDir("kiln-cache-prop-");
const root = join(import.meta.dir, "..", "..");

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface State {
  env: string;
  label: string;
  user: string;
  chown: boolean;
  base: "a" | "b";
  args: Record<string, string>;
  flags: Partial<BuildOptions>;
}

const dockerfile = (s: State, bases: Record<string, string>) => `FROM ${bases[s.base]} AS dep
ARG DEP=1
RUN echo "dep $DEP" > /dep && echo other > /other
FROM ${bases[s.base]}
ARG V=1
ENV E=${s.env}
LABEL l=${s.label}
USER ${s.user}
COPY ${s.chown ? "--chown=nobody " : ""}app/ /app/
WORKDIR /w
RUN echo "v=$V e=$E" > /tmp/v && id -u > /tmp/uid && ls -ln /app > /tmp/listing
USER root
COPY --from=dep /dep /dep
COPY f.txt .
`;

let BASES: Record<string, string> = {};
beforeAll(async () => {
  const layouts = await baseLayouts();
  // A second base with another manifest digest: the same files, one more config label.
  const img = readOciLayout(layouts.busybox, "latest");
  const alt = join(tmp, "alt-base");
  await writeOciLayout(withConfig(img, { ...img.config, config: { ...img.config.config, Labels: { base: "alt" } } }), alt, "latest");
  BASES = { a: `oci-layout://${layouts.busybox}:latest`, b: `oci-layout://${alt}:latest` };
});

type Mutation = [string, (ctx: string, s: State, r: () => number) => void];
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const appFiles = (ctx: string) => ["a.txt", "b.txt", "c.txt", "d.txt"].filter((f) => existsSync(join(ctx, "app", f)));

const MUTATIONS: Mutation[] = [
  ["content", (c, _s, r) => writeFileSync(join(c, "app", pick(r, appFiles(c))), `v${Math.floor(r() * 2)}\n`)],
  ["rename", (c, _s, r) => {
    const from = pick(r, appFiles(c));
    const to = pick(r, ["a.txt", "b.txt", "c.txt", "d.txt"].filter((f) => f !== from));
    rmSync(join(c, "app", to), { force: true });
    renameSync(join(c, "app", from), join(c, "app", to));
  }],
  ["chmod", (c, _s, r) => chmodSync(join(c, "app", pick(r, appFiles(c))), pick(r, [0o644, 0o755, 0o600]))],
  ["hard link", (c, _s, r) => {
    const [a, b] = [pick(r, appFiles(c)), pick(r, ["a.txt", "b.txt", "c.txt", "d.txt"])];
    if (a === b) return;
    rmSync(join(c, "app", b), { force: true });
    linkSync(join(c, "app", a), join(c, "app", b));
  }],
  ["symlink target", (c, _s, r) => {
    rmSync(join(c, "app", "link"), { force: true });
    symlinkSync(pick(r, ["a.txt", "b.txt", "missing"]), join(c, "app", "link"));
  }],
  ["ignore rules", (c, _s, r) => writeFileSync(join(c, ".dockerignore"), pick(r, ["app/*.log\n", "app/b*\n", "app/c.txt\napp/*.log\n", ""]))],
  ["build args", (_c, s, r) => (s.args = { V: pick(r, ["1", "2"]), DEP: pick(r, ["1", "2"]) })],
  ["ENV", (_c, s, r) => (s.env = pick(r, ["1", "2", "3"]))],
  ["LABEL", (_c, s, r) => (s.label = pick(r, ["x", "y", "z"]))],
  ["USER", (_c, s, r) => ((s.user = pick(r, ["root", "nobody"])), (s.chown = r() < 0.5))],
  ["base digest", (_c, s) => (s.base = s.base === "a" ? "b" : "a")],
  ["flags in the key", (_c, s, r) => (s.flags = pick(r, [{}, { ignorePaths: ["/w"] }, { compression: "none" }, { compressionLevel: 1 }] as Partial<BuildOptions>[]))],
];

test(`random mutations (seed ${SEED}, ${CASES} cases): the cached image is always the uncached one`, async () => {
  const r = rng(SEED);
  const ctx = join(tmp, "ctx");
  mkdirSync(join(ctx, "app"), { recursive: true });
  // Few distinct contents, so that a rename, chmod or hard link is often the only change.
  for (const f of ["a.txt", "b.txt", "c.txt"]) writeFileSync(join(ctx, "app", f), f === "c.txt" ? "v1\n" : "v0\n");
  writeFileSync(join(ctx, "app", "x.log"), "log\n");
  symlinkSync("a.txt", join(ctx, "app", "link"));
  writeFileSync(join(ctx, "f.txt"), "f\n");
  writeFileSync(join(ctx, ".dockerignore"), "app/*.log\n");
  const s: State = { env: "1", label: "x", user: "root", chown: false, base: "a", args: {}, flags: {} };
  const store = new MemoryCacheStore();
  const seen = new Set<string>(); // layer digests the cache has held
  let misses = 0;
  let needless = 0;
  const applied: string[] = [];
  for (let i = 0; i <= CASES; i++) {
    if (i > 0) {
      const [name, mutate] = pick(r, MUTATIONS);
      mutate(ctx, s, r);
      applied.push(name);
    }
    writeFileSync(join(ctx, "Dockerfile"), dockerfile(s, BASES));
    const opts: Partial<BuildOptions> = { buildArgs: s.args, ...s.flags };
    const cached = await buildIn(ctx, opts, store);
    const fresh = await buildIn(ctx, opts);
    const at = `after ${applied.join(", ") || "nothing"}`;
    expect(await imageTree(cached.image), at).toEqual(await imageTree(fresh.image));
    for (const row of cached.report) {
      if (row.hit) continue;
      misses++;
      if (i > 0 && row.layer && seen.has(row.layer)) needless++;
    }
    for (const row of cached.report) if (row.layer) seen.add(row.layer);
  }
  console.log(`cache property test: ${CASES} mutations (${applied.join(", ")}): ${misses} misses, ${needless} needless (a byte-identical layer was already cached)`);
}, 300_000);

test("end to end: the last mutated state, cached through a registry, equals the uncached image", async () => {
  const reg = await registry();
  const bases = await baseImages();
  const ctx = join(tmp, "ctx");
  const s: State = { env: "9", label: "e2e", user: "nobody", chown: true, base: "a", args: {}, flags: {} };
  writeFileSync(join(ctx, "Dockerfile"), dockerfile(s, { a: bases.busybox, b: bases.busyboxV2s2 }));
  const kiln = (tag: string, extra: string[]) => spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "mod.ts"), "build", "-c", ctx, "-d", `${reg.host}/prop:${tag}`, "--reproducible", ...extra], { encoding: "utf8" });
  const cache = ["--cache", "--cache-repo", `${reg.host}/prop/cache`];
  expect(kiln("warm", cache).status).toBe(0);
  writeFileSync(join(ctx, "app", "a.txt"), readFileSync(join(ctx, "f.txt"), "utf8") + "e2e\n");
  for (const [tag, extra] of [["cached", cache], ["fresh", []]] as const) {
    const res = kiln(tag, [...extra]);
    expect(res.stderr).not.toContain("internal error");
    expect(res.status).toBe(0);
  }
  const a = await imageFiles(`${reg.host}/prop:cached`);
  const b = await imageFiles(`${reg.host}/prop:fresh`);
  expect(a.digest).toBe(b.digest);
  expect([...a.files]).toEqual([...b.files]);
}, 300_000);
