// COPY --link end to end on the real registry, against BuildKit's documented behaviour
// (docs.docker.com/reference/dockerfile/#copy---link):
// - "the files are copied into an empty directory and that directory becomes a layer that is
//   linked on top of the previous state" -> destination paths are not resolved through symlinks
//   of the layers below, and created parent directories are 0755 root;
// - "Benefits of using --link": a base image change does not invalidate the copy; the layer is
//   reused as is (same digest), while the later RUN runs again on the new base.
// Every rebuild is compared file by file with a build without the cache.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, type BaseImageRefs, type RegistryHandle } from "../env.ts";
import { imageFiles, layerFiles } from "./image-files.ts";
import { hitMiss, kilnBuild, type Built } from "./kiln-build.ts";
import { parseReference } from "../../src/image/reference.ts";
import { fetchImage, RegistryClient } from "../../src/registry/index.ts";

/** The files the image's last layer (the RUN) holds, besides directories. */
async function lastLayerFiles(ref: string): Promise<string[]> {
  const img = await fetchImage(new RegistryClient({ insecureRegistries: ["*"] }), parseReference(ref));
  const { files } = await layerFiles([img.layers.at(-1)!]);
  return [...files.entries()].filter(([, f]) => f.type !== "dir").map(([p]) => p).sort();
}

// The local registry and base images, started once for both tests.
let reg: RegistryHandle;
let bases: BaseImageRefs;
const tmp = mkdtempSync(join(tmpdir(), "kiln-link-e2e-"));
beforeAll(async () => void ([reg, bases] = await Promise.all([registry(), baseImages()])));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function build(ctx: string, dest: string, args: string[]) {
  const b = kilnBuild(tmp, ctx, dest, args);
  if (b.code !== 0) console.error(b.err);
  return b;
}
const hm = (rows: Built["report"]) => hitMiss({ code: 0, err: "", report: rows });

/** Push a base image whose content is `marker`, always under the same tag: the base "moves". */
function pushBase(tag: string, marker: string): void {
  const ctx = join(tmp, `base-${++n}`);
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), `FROM ${bases.busybox}\nRUN echo ${marker} > /base && mkdir -p /tmp/real && ln -s /tmp/real /data\n`);
  expect(build(ctx, tag, []).code).toBe(0);
}

test("a COPY --link layer is reused unchanged after the base moves; the RUN after it runs again; cached == uncached", async () => {
  const base = `${reg.host}/link/base:latest`;
  pushBase(base, "one");
  const ctx = join(tmp, "app");
  mkdirSync(join(ctx, "src"), { recursive: true });
  writeFileSync(join(ctx, "src", "a.txt"), "A\n", { mode: 0o600 });
  writeFileSync(join(ctx, "src", "run.sh"), "#!/bin/sh\n", { mode: 0o700 });
  writeFileSync(join(ctx, "Dockerfile"), [
    `FROM ${base}`,
    "WORKDIR /w",
    "COPY --link src/a.txt /data/",
    "COPY --link --chmod=u=rwX,go=rX src/ deep/er/",
    "RUN cat /base /data/a.txt > /out && ls /tmp/real > /tmp-real && stat -c %a /w/deep/er/run.sh /w/deep > /modes",
  ].join("\n") + "\n");
  const cache = ["--cache", "--cache-repo", `${reg.host}/link/cache`];
  const a = build(ctx, `${reg.host}/link/app:a`, cache);
  expect(a.code).toBe(0);
  expect(hm(a.report)).toBe("MMMM");
  const ia = await imageFiles(`${reg.host}/link/app:a`);
  // Not resolved through the base's /data -> /tmp/real symlink: /data is the layer's directory.
  expect(ia.files.get("data")?.type).toBe("dir");
  expect(ia.content.get("data/a.txt")).toBe("A\n");
  expect(ia.content.get("tmp-real")).toBe("");
  expect(ia.content.get("out")).toBe("one\nA\n");
  // WORKDIR-relative dest; created parents 0755 root; symbolic --chmod on files and directories.
  expect(ia.files.get("w/deep")).toMatchObject({ type: "dir", mode: 0o755, uid: 0, gid: 0 });
  expect(ia.files.get("w/deep/er/a.txt")?.mode).toBe(0o644);
  expect(ia.files.get("w/deep/er/run.sh")?.mode).toBe(0o755);
  expect(ia.content.get("modes")).toBe("755\n755\n");

  pushBase(base, "two");
  const b = build(ctx, `${reg.host}/link/app:b`, cache);
  expect(b.code).toBe(0);
  // WORKDIR chains on the base (a miss); both --link layers after it are hits with the same
  // layers, applied onto the new base; the RUN runs again.
  expect(hm(b.report)).toBe("MHHM");
  expect(b.report[1]!.layer).toBe(a.report[1]!.layer!);
  expect(b.report[2]!.layer).toBe(a.report[2]!.layer!);
  expect(b.report[3]!.layer).not.toBe(a.report[3]!.layer);
  const ib = await imageFiles(`${reg.host}/link/app:b`);
  // The RUN's layer does not repeat the --link files, whether they were copied or reused.
  expect(await lastLayerFiles(`${reg.host}/link/app:a`)).toEqual(["modes", "out", "tmp-real"]);
  expect(await lastLayerFiles(`${reg.host}/link/app:b`)).toEqual(["modes", "out", "tmp-real"]);
  expect(ib.content.get("out")).toBe("two\nA\n");

  const c = build(ctx, `${reg.host}/link/app:c`, []);
  expect(c.code).toBe(0);
  const ic = await imageFiles(`${reg.host}/link/app:c`);
  expect([...ib.files.entries()].sort()).toEqual([...ic.files.entries()].sort());
  expect([...ib.content.entries()].sort()).toEqual([...ic.content.entries()].sort());
}, 300_000);

test("COPY --link --chown by name is refused with its line, nothing pushed", () => {
  const ctx = join(tmp, "named");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "f"), "f");
  writeFileSync(join(ctx, "Dockerfile"), `FROM ${bases.busybox}\nCOPY --link --chown=nobody f /f\n`);
  const r = build(ctx, `${reg.host}/link/named:1`, []);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/Dockerfile:2: --chown=nobody with --link: "nobody" is a name/);
  expect(r.err).not.toMatch(/pushed/i);
});
