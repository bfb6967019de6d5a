// --cache-run-mounts end to end on the real registry: "cold runners" (each build a fresh, empty
// --cache-mount-dir) sharing one cache repository. What one build puts in a RUN cache mount, the
// next one finds; unchanged content is not uploaded again; a fully cached build fetches nothing;
// an expired entry is ignored; a corrupt blob is a warning and an empty cache; and no byte of the
// cache reaches an image layer or config. Requests are counted in the registry's access log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheMountKey } from "../../src/cache/mount-store.ts";
import { decompress } from "../../src/fs/compression.ts";
import { hostPlatform } from "../../src/image/platform.ts";
import { parseReference } from "../../src/image/reference.ts";
import { fetchImage, RegistryClient } from "../../src/registry/index.ts";
import { readTar } from "../../src/tar/reader.ts";
import { baseImages, registry, type RegistryHandle } from "../env.ts";

const root = join(import.meta.dir, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "kiln-cache-mounts-e2e-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let busybox: string;
beforeAll(async () => {
  reg = await registry();
  busybox = (await baseImages()).busybox;
});

/** A distinctive byte string in every "package": it must never show up in the image. */
const MARK = "CACHEMOUNT-PKG-BYTES-7f3e";
const ID = `pkgs-${process.pid}`;

/**
 * A package-manager-style RUN: "download" (copy from a bound mirror in the context) only what the
 * cache mount lacks, then "install" from the cache. /result says whether the cache had it.
 */
function context(): string {
  const dir = join(tmp, "ctx");
  mkdirSync(join(dir, "mirror"), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, "mirror", `pkg-${i}.deb`), `${MARK} package ${i}\n`.repeat(200));
  writeFileSync(join(dir, "Dockerfile"), `FROM ${busybox}
ARG BUILD=1
RUN --mount=type=cache,id=${ID},target=/var/cache/pkgs --mount=type=bind,source=mirror,target=/mirror \\
    if [ -f /var/cache/pkgs/pkg-0.deb ]; then echo hit > /result; else cp /mirror/* /var/cache/pkgs/ && echo miss > /result; fi && \\
    ls /var/cache/pkgs | wc -l | tr -d ' ' > /installed && echo "$BUILD" > /build
`);
  return dir;
}

let ctx: string;
let runners = 0;
const cacheRepo = () => `${reg.host}/cmounts/app/cache`;
const key = cacheMountKey(ID, hostPlatform());

interface Built { code: number | null; log: string; dir: string }
/** kiln build on a cold runner: a cache-mount directory that does not exist yet. */
function build(tag: string, args: string[]): Built {
  const dir = join(tmp, `runner-${++runners}`);
  const r = spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "mod.ts"), "build", "-c", ctx, "-d", `${reg.host}/cmounts/app:${tag}`,
    "--cache", "--cache-repo", cacheRepo(), "--cache-run-mounts", "--cache-mount-dir", dir, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, log: r.stdout + r.stderr, dir };
}

/** Access-log lines of the registry ("METHOD /path" with its status). */
function requests(): string[] {
  return readFileSync(reg.logFile, "utf8").split("\n").filter((l) => l.startsWith("127.0.0.1 - -")).map((l) => /"(\w+ \S+) HTTP/.exec(l)?.[1] ?? "");
}
const manifestPuts = (reqs: string[]) => reqs.filter((r) => r === `PUT /v2/cmounts/app/cache/manifests/${key}`).length;
const manifestReads = (reqs: string[]) => reqs.filter((r) => /^(GET|HEAD) /.test(r) && r.endsWith(`/manifests/${key}`)).length;

/** Decompressed bytes of every layer and the config of a pushed image, and its files' contents. */
async function pushed(tag: string): Promise<{ raw: string; files: Map<string, string> }> {
  const img = await fetchImage(new RegistryClient({ insecureRegistries: ["*"] }), parseReference(`${reg.host}/cmounts/app:${tag}`));
  let raw = JSON.stringify(img.config);
  const files = new Map<string, string>();
  for (const layer of img.layers) {
    for await (const { header: h, body } of readTar(decompress(await layer.open(), layer.digest))) {
      const chunks: Uint8Array[] = [];
      for await (const c of body) chunks.push(c);
      const text = Buffer.concat(chunks).toString("latin1");
      raw += h.name + "\n" + text;
      if (h.type === "file") files.set(h.name.replace(/^\.?\//, ""), text);
    }
  }
  return { raw, files };
}

function ok(b: Built): Built {
  if (b.code !== 0) throw new Error(`build failed (${b.code}):\n${b.log}`);
  return b;
}

describe("--cache-run-mounts", () => {
  test("cold runners share the cache mount through the cache repo; unchanged content is not uploaded again; nothing of it in the image", async () => {
    ctx = context();
    const before = requests();
    const a = ok(build("a", ["--build-arg", "BUILD=1"]));
    expect(a.log).toContain(`cache mount "${ID}": storing`);
    expect(manifestPuts(requests().slice(before.length))).toBe(1);
    const pa = await pushed("a");
    expect(pa.files.get("result")).toBe("miss\n");

    // Another cold runner, and a RUN that misses the layer cache (BUILD changed): it finds the packages.
    const mid = requests();
    const b = ok(build("b", ["--build-arg", "BUILD=2"]));
    expect(b.log).toContain(`cache mount "${ID}": fetched`);
    expect(b.log).toContain(`cache mount "${ID}": unchanged (untouched since it was synced), not stored again`);
    expect(manifestPuts(requests().slice(mid.length))).toBe(0);
    const pb = await pushed("b");
    expect(pb.files.get("result")).toBe("hit\n");
    expect(pb.files.get("installed")).toBe("20\n");

    for (const p of [pa, pb]) {
      expect(p.raw).not.toContain(MARK);
      expect([...p.files.keys()].filter((f) => f.startsWith("var/cache/pkgs/"))).toEqual([]);
    }
  });

  test("a fully cached build fetches nothing", () => {
    const before = requests();
    const c = ok(build("c", ["--build-arg", "BUILD=2"]));
    expect(c.log).toContain("CACHE HIT");
    expect(c.log).not.toContain("CACHE MISS");
    expect(c.log).not.toContain(`cache mount "${ID}"`);
    expect(manifestReads(requests().slice(before.length))).toBe(0);
    expect(existsSync(c.dir) ? readdirSync(c.dir) : []).toEqual([]);
  });

  test("an entry older than --cache-ttl is ignored (the RUN starts empty), then stored again", async () => {
    const d = ok(build("d", ["--build-arg", "BUILD=3", "--cache-ttl", "1ms"]));
    expect(d.log).not.toContain(`cache mount "${ID}": fetched`);
    expect((await pushed("d")).files.get("result")).toBe("miss\n");
    expect(d.log).toContain(`cache mount "${ID}": storing`);
  });

  test("a corrupt blob is a warning and an empty cache; the build succeeds and stores a good copy", async () => {
    const client = new RegistryClient({ insecureRegistries: ["*"] });
    const m = JSON.parse(new TextDecoder().decode((await client.getManifest(parseReference(`${cacheRepo()}:${key}`), "application/vnd.oci.image.manifest.v1+json")).bytes));
    const hex = (m.layers[0].digest as string).slice(7);
    const data = join(reg.dataDir, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
    const size = readFileSync(data).length;
    writeFileSync(data, Buffer.alloc(size, 0x41)); // same length: only the digest check can tell
    // A registry never replaces a blob it holds (storage is content-addressed: distribution skips
    // the move of an upload whose digest is present), so a good copy of the same bytes could not
    // repair it. One more package in the mirror makes the good copy a different blob.
    writeFileSync(join(ctx, "mirror", "pkg-extra.deb"), `${MARK} one more package\n`);
    const e = ok(build("e", ["--build-arg", "BUILD=4"]));
    expect(e.log).toContain(`cache mount "${ID}": could not fetch the stored copy`);
    expect(e.log).toContain(`cache mount "${ID}": storing`);
    expect((await pushed("e")).files.get("result")).toBe("miss\n");
    const f = ok(build("f", ["--build-arg", "BUILD=5"]));
    expect(f.log).toContain(`cache mount "${ID}": fetched`);
    expect((await pushed("f")).files.get("result")).toBe("hit\n");
  });

  test("--no-push-cache fetches but never stores", async () => {
    const before = requests();
    const g = ok(build("g", ["--build-arg", "BUILD=6", "--no-push-cache"]));
    expect(g.log).toContain(`cache mount "${ID}": fetched`);
    expect((await pushed("g")).files.get("result")).toBe("hit\n");
    expect(requests().slice(before.length).filter((r) => r.startsWith("PUT /v2/cmounts/app/cache/") || r.startsWith("POST /v2/cmounts/app/cache/"))).toEqual([]);
  });
});
