// The OCI-layout cache store: the same entries in index.json, and writers racing on it.
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openCacheStore } from "../../src/cache/index.ts";
import { readAll } from "../../src/image/digest.ts";
import { readOciLayout, REF_NAME } from "../../src/image/layout.ts";
import { OCI_LAYER_GZIP, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { layerFile, randomKey, tempDir, warnings } from "./helpers.ts";

const tmp = tempDir("kiln-cache-layout-");
const DAY = 86_400_000;
const client = new RegistryClient();

function open(dir: string, o: { now?: () => Date; ttlMs?: number; readOnly?: boolean; spec?: string } = {}) {
  const w = warnings();
  const store = openCacheStore(o.spec ?? `oci:${dir}`, { client, ttlMs: o.ttlMs ?? DAY, readOnly: o.readOnly ?? false, warn: w.warn, now: o.now });
  return { store, warnings: w.list };
}

describe("layout cache store", () => {
  test("round trip: entries are tagged images of a valid OCI layout", async () => {
    const dir = join(tmp, "rt");
    const { store, warnings } = open(dir);
    expect(store.describe()).toBe(`oci:${dir}`);
    expect(store.repository).toBeUndefined();
    expect(await store.probe([randomKey()])).toEqual([undefined]); // no layout yet
    const l = layerFile(tmp);
    const k1 = randomKey();
    const k2 = randomKey();
    await store.put(k1, l, { createdBy: "COPY . /app" });
    await store.put(k2, null, { createdBy: "RUN true" });
    const [h1, h2, miss] = await open(dir, { spec: `oci-layout://${dir}` }).store.probe([k1, k2, randomKey()]);
    expect(h1).toMatchObject({ key: k1, empty: false, createdBy: "COPY . /app", layer: { digest: l.digest, size: l.size, mediaType: OCI_LAYER_GZIP, diffId: l.diffId } });
    expect(h2).toMatchObject({ key: k2, empty: true, layer: undefined });
    expect(miss).toBeUndefined();
    expect(await readAll(await store.layerOf(h1!)!.open())).toEqual(l.bytes);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.manifests.map((d: { annotations: Record<string, string> }) => d.annotations[REF_NAME]).sort()).toEqual([k1, k2].sort());
    const img = readOciLayout(dir, k1);
    expect(img.mediaType).toBe(OCI_MANIFEST);
    expect(img.layers.map((x) => x.digest)).toEqual([l.digest]);
    expect(img.config.rootfs.diff_ids).toEqual([l.diffId]);
    // Rewriting a key replaces its entry.
    await store.put(k1, null, { createdBy: "RUN again" });
    expect((await store.probe([k1]))[0]).toMatchObject({ empty: true, createdBy: "RUN again" });
    expect(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests).toHaveLength(2);
    expect(warnings).toEqual([]);
  });

  test("TTL, read-only, and a layer file that does not match its digest", async () => {
    const dir = join(tmp, "misc");
    const t0 = new Date("2031-01-01T00:00:00Z");
    const k = randomKey();
    await open(dir, { now: () => t0 }).store.put(k, layerFile(tmp), { createdBy: "RUN x" });
    expect((await open(dir, { now: () => new Date(t0.getTime() + 2 * DAY) }).store.probe([k]))[0]).toBeUndefined();
    expect((await open(dir, { now: () => new Date(t0.getTime() + DAY / 2) }).store.probe([k]))[0]?.key).toBe(k);

    const ro = join(tmp, "ro");
    await open(ro, { readOnly: true }).store.put(randomKey(), layerFile(tmp), { createdBy: "RUN x" });
    expect(existsSync(ro)).toBe(false);

    const { store, warnings } = open(dir);
    const l = layerFile(tmp);
    const k2 = randomKey();
    await store.put(k2, { ...layerFile(tmp), digest: l.digest, size: l.size + 1 }, { createdBy: "RUN x" });
    expect(warnings).toHaveLength(1);
    expect(await store.probe([k2])).toEqual([undefined]);
    expect(existsSync(join(dir, "blobs", "sha256", l.digest.slice(7)))).toBe(false);
  });

  test("concurrent writers (processes and tasks) lose no entry", async () => {
    const dir = join(tmp, "race");
    const l = layerFile(tmp, OCI_LAYER_GZIP, 100_000);
    const shared = randomKey();
    const perProc = Array.from({ length: 4 }, () => [shared, ...Array.from({ length: 8 }, randomKey)]);
    const script = join(import.meta.dir, "layout-writer.ts");
    const runChild = (keys: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(process.execPath, [script, dir, JSON.stringify({ ...l, bytes: undefined }), ...keys], { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        p.stderr.on("data", (c) => (err += c));
        p.on("close", (code) => resolve({ code, err }));
      });
    const inProc = open(dir);
    const mine = Array.from({ length: 10 }, randomKey);
    const [children] = await Promise.all([Promise.all(perProc.map(runChild)), Promise.all(mine.map((k) => inProc.store.put(k, l, { createdBy: "RUN mine" })))]);
    expect(children).toEqual(perProc.map(() => ({ code: 0, err: "" })));
    expect(inProc.warnings).toEqual([]);
    const all = [...new Set([...perProc.flat(), ...mine])];
    const hits = await inProc.store.probe(all);
    expect(hits.filter((h) => !h).length).toBe(0);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(all.length);
    expect(existsSync(join(dir, "index.json.lock"))).toBe(false);
  });
});
