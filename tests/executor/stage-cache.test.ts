// Issue 20 items 1-8 in-process: kiln's build() with the in-memory cache store and an OCI-layout
// base (no registry). After each change, the cached build must give the uncached build's image,
// file by file and config, and hit or miss as the key rule says.
import { beforeAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryCacheStore } from "../../src/cache/memory-store.ts";
import { zstdSupported } from "../../src/fs/compression.ts";
import { sha256 } from "../../src/image/digest.ts";
import type { BuildOptions } from "../../src/executor/options.ts";
import { baseLayouts } from "../env.ts";
import { buildIn, imageTree, tempDir } from "./stage-harness.ts";

const tmp = tempDir("kiln-stage-cache-");
let BASE = "";
beforeAll(async () => {
  BASE = `oci-layout://${(await baseLayouts()).busybox}:latest`;
});

let n = 0;
function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, `ctx${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "Dockerfile"), dockerfile.replaceAll("$BASE", BASE));
  for (const [k, v] of Object.entries(files)) {
    mkdirSync(join(dir, k, ".."), { recursive: true });
    writeFileSync(join(dir, k), v);
  }
  return dir;
}

/** Build cached through `store` and uncached; the images must be the same. Returns the cached build. */
async function sameAsUncached(ctx: string, store: MemoryCacheStore, over: Partial<BuildOptions> = {}) {
  const cached = await buildIn(ctx, over, store);
  const fresh = await buildIn(ctx, over);
  expect(await imageTree(cached.image)).toEqual(await imageTree(fresh.image));
  return cached;
}

describe("issue 20 items 1-3: build flags that shape layers are in the key", () => {
  const df = "FROM $BASE\nRUN mkdir -p /ign /keep && echo secret > /ign/f && echo k > /keep/f\nCOPY a.txt /a.txt\n";

  test("1: adding --ignore-path misses and leaves the path out", async () => {
    const ctx = context(df, { "a.txt": "a\n" });
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, {}, store)).hm).toBe("MM");
    const r = await sameAsUncached(ctx, store, { ignorePaths: ["/ign"] });
    expect(r.hm).toBe("MM");
    expect(Object.keys((await imageTree(r.image)).files).filter((f) => f.startsWith("ign"))).toEqual([]);
    expect((await buildIn(ctx, { ignorePaths: ["/ign/"] }, store)).hm).toBe("HH"); // the same path, spelled otherwise
  });

  test("2: --reproducible misses after a non-reproducible build (layer times differ)", async () => {
    const ctx = context(df, { "a.txt": "a\n" });
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, { reproducible: false }, store)).hm).toBe("MM");
    expect((await sameAsUncached(ctx, store, { reproducible: true })).hm).toBe("MM");
  });

  test("3: a layer is never handed back in a compression the build did not ask for", async () => {
    if (!zstdSupported()) {
      console.warn("skipped: this runtime has no zstd in node:zlib");
      return;
    }
    const ctx = context(df, { "a.txt": "a\n" });
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, { compression: "zstd" }, store)).hm).toBe("MM");
    const gz = await sameAsUncached(ctx, store, { compression: "gzip" });
    expect(gz.hm).toBe("MM");
    expect((await imageTree(gz.image)).mediaTypes.every((m) => m.endsWith("+gzip"))).toBe(true);
    expect((await buildIn(ctx, { compression: "gzip", compressionLevel: 1 }, store)).hm).toBe("MM");
  });
});

test("4: a copied file replaced by a hard link to another copied file misses, and the link is written", async () => {
  const ctx = context("FROM scratch\nCOPY d/ /d/\n", { "d/a": "same\n", "d/b": "same\n" });
  const store = new MemoryCacheStore();
  expect((await buildIn(ctx, {}, store)).hm).toBe("M");
  rmSync(join(ctx, "d/b"));
  linkSync(join(ctx, "d/a"), join(ctx, "d/b"));
  const r = await sameAsUncached(ctx, store);
  expect(r.hm).toBe("M");
  expect((await imageTree(r.image)).files["d/b"]).toMatchObject({ type: "hardlink", link: "d/a" });
});

test("5: with only COPY left, /etc/passwd as a symlink still resolves users (tree-only unpack keeps its target)", async () => {
  const ctx = context(
    "FROM $BASE\nRUN mv /etc/passwd /etc/passwd.real && ln -s passwd.real /etc/passwd && echo 'app:x:1234:2345::/home/app:/bin/sh' >> /etc/passwd.real && head -c 100000 /dev/zero > /big\nCOPY --chown=app f.txt /f.txt\n",
    { "f.txt": "1\n" },
  );
  const store = new MemoryCacheStore();
  expect((await buildIn(ctx, {}, store)).hm).toBe("MM");
  writeFileSync(join(ctx, "f.txt"), "2\n");
  const r = await sameAsUncached(ctx, store);
  expect(r.hm).toBe("HM");
  expect((await imageTree(r.image)).files["f.txt"]).toMatchObject({ uid: 1234, gid: 2345 });
});

test("6: a proxy build arg does not change a RUN's key, and the RUN sees it", async () => {
  const ctx = context("FROM $BASE\nRUN echo ok > /ok\nRUN echo \"p=$http_proxy\" > /seen\n");
  const store = new MemoryCacheStore();
  expect((await buildIn(ctx, {}, store)).hm).toBe("MM");
  expect((await buildIn(ctx, { buildArgs: { http_proxy: "http://127.0.0.1:9" } }, store)).hm).toBe("HH");
  const fresh = await buildIn(ctx, { buildArgs: { http_proxy: "http://127.0.0.1:9" } });
  expect((await imageTree(fresh.image)).files["seen"]!.sha256).toBe(sha256(new TextEncoder().encode("p=http://127.0.0.1:9\n")).slice(7));
});

describe("7: each step is keyed on what it reads", () => {
  test("a LABEL change invalidates nothing; the config still has the new label", async () => {
    const ctx = context("FROM $BASE\nLABEL v=1\nRUN echo a > /a\nCOPY f.txt /f\n", { "f.txt": "f\n" });
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, {}, store)).hm).toBe("MM");
    writeFileSync(join(ctx, "Dockerfile"), `FROM ${BASE}\nLABEL v=2\nRUN echo a > /a\nCOPY f.txt /f\n`);
    const r = await sameAsUncached(ctx, store);
    expect(r.hm).toBe("HH");
    expect((r.image.config.config?.Labels ?? {})["v"]).toBe("2");
  });

  test("a USER change invalidates a later RUN but not a COPY without --chown", async () => {
    const df = (u: string) => `FROM ${BASE}\nUSER ${u}\nCOPY f.txt /f\nRUN id -u > /tmp/uid\n`;
    const ctx = context(df("nobody"), { "f.txt": "f\n" });
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, {}, store)).hm).toBe("MM");
    writeFileSync(join(ctx, "Dockerfile"), df("root"));
    const r = await sameAsUncached(ctx, store);
    expect(r.hm).toBe("HM");
    expect(r.image.config.config?.User).toBe("root");
  });

  test("a change in a stage outside the paths COPY --from copies does not invalidate the COPY", async () => {
    const df = (v: string) => `FROM ${BASE} AS dep\nRUN echo same > /out && echo ${v} > /other\nFROM ${BASE}\nCOPY --from=dep /out /out\nRUN cat /out > /seen\n`;
    const ctx = context(df("1"));
    const store = new MemoryCacheStore();
    expect((await buildIn(ctx, {}, store)).hm).toBe("MMM");
    writeFileSync(join(ctx, "Dockerfile"), df("2"));
    expect((await sameAsUncached(ctx, store)).hm).toBe("MHH");
    // Fully cached: the key of COPY --from comes from the alias entry, so nothing is unpacked.
    const again = await buildIn(ctx, {}, store);
    expect(again.hm).toBe("HHH");
    expect(again.lines.filter((l) => l.includes("unpacked"))).toEqual([]);
    writeFileSync(join(ctx, "Dockerfile"), df("2").replace("echo same", "echo changed"));
    expect((await sameAsUncached(ctx, store)).hm).toBe("MMM");
  });
});

describe("8: a cached layer that is gone or corrupt is a miss, rebuilt and stored again", () => {
  const df = "FROM $BASE\nRUN echo one > /one\nCOPY f.txt /f\n";
  async function primed() {
    const ctx = context(df, { "f.txt": "1\n" });
    const store = new MemoryCacheStore();
    const first = await buildIn(ctx, {}, store);
    expect(first.hm).toBe("MM");
    const runLayer = first.report[0]!.layer!;
    return { ctx, store, runKey: first.report[0]!.key!, runLayer };
  }

  test("gone before the build: the probe finds it missing", async () => {
    const { ctx, store, runKey, runLayer } = await primed();
    store.blobs.delete(runLayer);
    const r = await sameAsUncached(ctx, store);
    expect(r.hm).toBe("MM");
    expect(r.warnings.join("\n")).toContain("is gone from memory");
    expect(store.puts.filter((k) => k === runKey).length).toBe(2);
    expect((await buildIn(ctx, {}, store)).hm).toBe("HH");
  });

  test("corrupt at unpack time: the stage starts over and runs the step", async () => {
    const { ctx, store, runKey, runLayer } = await primed();
    store.blobs.set(runLayer, new Uint8Array([1, 2, 3]));
    writeFileSync(join(ctx, "f.txt"), "2\n"); // the COPY misses, so the cached RUN layer is unpacked
    const r = await sameAsUncached(ctx, store);
    expect(r.hm).toBe("MM");
    expect(r.warnings.join("\n")).toMatch(/cached layer of "RUN echo one > \/one" cannot be used/);
    expect(store.puts.filter((k) => k === runKey).length).toBe(2);
  });
});

test("a failing RUN exits 1 and keeps the command's own code", async () => {
  const ctx = context("FROM $BASE\nRUN exit 42\n");
  const e = await buildIn(ctx).then(() => undefined, (err) => err);
  expect(e?.exitCode).toBe(1);
  expect(e?.commandExitCode).toBe(42);
  expect(e?.message).toContain("Dockerfile:2: RUN exit 42: the command returned a non-zero code: 42");
});

test("issue 18 item 6c: a WorkingDir through a symlink is followed inside the rootfs", async () => {
  const ctx = context("FROM $BASE\nWORKDIR /app\nRUN cd / && rmdir /app && ln -s /srv/app /app\nRUN pwd > /pwd && touch here\n");
  const t = await imageTree((await buildIn(ctx)).image);
  expect(t.files["srv/app/here"]?.type).toBe("file");
  expect(t.files["app"]).toMatchObject({ type: "symlink", link: "/srv/app" });
});

test("issue 18 item 6c: a WorkingDir that cannot be made (a symlink loop) says which and why", async () => {
  const ctx = context("FROM $BASE\nWORKDIR /x\nRUN cd / && rmdir /x && ln -s /x /x\nRUN true\n");
  const e = await buildIn(ctx).then(() => undefined, (err) => err);
  expect(e?.message).toMatch(/^Dockerfile:4: working directory \/x: cannot create it inside the rootfs \(following symlinks there\): .+/);
});

test("--force-build-metadata: metadata steps get an empty layer each", async () => {
  const ctx = context("FROM scratch\nENV A=1\nLABEL b=2\nCOPY f.txt /f\n", { "f.txt": "f\n" });
  const plain = await buildIn(ctx);
  const forced = await buildIn(ctx, { forceBuildMetadata: true });
  expect(forced.image.layers.length).toBe(plain.image.layers.length + 2);
  expect((await imageTree(forced.image)).files).toEqual((await imageTree(plain.image)).files);
  expect(forced.image.config.config).toEqual(plain.image.config.config);
});
