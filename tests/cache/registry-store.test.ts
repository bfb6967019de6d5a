// The registry cache store against a real registry: entries, TTL, misses, failures, races,
// read-only mode, and mounting a hit's layer into the destination.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { registry } from "../env.ts";
import { accessLog, logSize } from "../registry/helpers.ts";
import { openCacheStore, inferCacheRepo } from "../../src/cache/index.ts";
import { LABEL_EMPTY } from "../../src/cache/entry.ts";
import { makeImage } from "../../src/image/image.ts";
import { DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_GZIP, OCI_MANIFEST } from "../../src/image/media-types.ts";
import { readAll } from "../../src/image/digest.ts";
import { parseReference, parseRepository } from "../../src/image/reference.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { pushImage } from "../../src/registry/push.ts";
import { layerFile, randomKey, tempDir, warnings } from "./helpers.ts";

const tmp = tempDir("kiln-cache-reg-");
const DAY = 86_400_000;

describe("registry cache store", async () => {
  const reg = await registry();
  const client = new RegistryClient();
  const run = Math.random().toString(36).slice(2, 8);
  const repo = (name: string) => `${reg.host}/cache-${run}/${name}`;
  const open = (name: string, o: { now?: () => Date; ttlMs?: number; readOnly?: boolean; client?: RegistryClient } = {}) => {
    const w = warnings();
    const store = openCacheStore(repo(name), { client: o.client ?? client, ttlMs: o.ttlMs ?? 14 * DAY, readOnly: o.readOnly ?? false, warn: w.warn, now: o.now });
    return { store, warnings: w.list };
  };
  const tagExists = async (name: string, key: string) => (await client.headManifest(parseReference(`${repo(name)}:${key}`))) !== undefined;

  test("put then probe: a hit with the layer's descriptor, without downloading the layer", async () => {
    const { store, warnings } = open("a");
    expect(store.describe()).toBe(repo("a"));
    const l = layerFile(tmp);
    const k = randomKey();
    const t = new Date("2030-01-02T03:04:05Z");
    const timed = open("a", { now: () => t }).store;
    await timed.put(k, l, { createdBy: "RUN make # buildkit" });
    const from = logSize(reg.logFile);
    const [hit, miss] = await store.probe([k, randomKey()]);
    expect(miss).toBeUndefined();
    expect(hit).toEqual({
      key: k, manifestDigest: hit!.manifestDigest, empty: false, createdBy: "RUN make # buildkit", created: "2030-01-02T03:04:05Z",
      layer: { digest: l.digest, size: l.size, mediaType: OCI_LAYER_GZIP, diffId: l.diffId },
    });
    expect(accessLog(reg.logFile, from).filter((line) => line.includes(l.digest))).toEqual([]);
    const m = await client.getManifest(parseReference(`${repo("a")}:${k}`));
    expect(m.mediaType).toBe(OCI_MANIFEST);
    expect(m.digest).toBe(hit!.manifestDigest);
    // The layer behind the hit is the one stored.
    expect(await readAll(await store.layerOf(hit!)!.open())).toEqual(l.bytes);
    expect(warnings).toEqual([]);
  });

  test("a lookup is one request for an OCI entry (annotations); one without them is read from its config", async () => {
    const { store, warnings } = open("annotated");
    const l = layerFile(tmp);
    const k = randomKey();
    await store.put(k, l, { createdBy: "RUN annotated" });
    let from = logSize(reg.logFile);
    const [hit] = await store.probe([k]);
    expect(hit?.layer?.diffId).toBe(l.diffId);
    expect(hit?.createdBy).toBe("RUN annotated");
    expect(accessLog(reg.logFile, from).map((line) => line.match(/"(\w+) (\S+)/)?.slice(1).join(" "))).toEqual([`GET /v2/cache-${run}/annotated/manifests/${k}`]);
    // As an older kiln wrote it: no annotations, everything in the config.
    const ref = parseReference(`${repo("annotated")}:${k}`);
    const m = JSON.parse(new TextDecoder().decode((await client.getManifest(ref)).bytes));
    delete m.annotations;
    await client.putManifest(ref, new TextEncoder().encode(JSON.stringify(m)), OCI_MANIFEST);
    from = logSize(reg.logFile);
    const [old] = await store.probe([k]);
    expect({ ...old, manifestDigest: "" }).toEqual({ ...hit!, manifestDigest: "" });
    expect(accessLog(reg.logFile, from).some((line) => line.includes(`/blobs/${m.config.digest}`))).toBe(true);
    expect(warnings).toEqual([]);
  });

  test("a Docker layer gets a Docker v2s2 entry; a step without a layer an empty one", async () => {
    const { store, warnings } = open("b");
    const l = layerFile(tmp, DOCKER_LAYER_GZIP);
    const k1 = randomKey();
    const k2 = randomKey();
    await Promise.all([store.put(k1, l, { createdBy: "COPY a /b" }), store.put(k2, null, { createdBy: "RUN true" })]);
    const [h1, h2] = await store.probe([k1, k2]);
    expect((await client.getManifest(parseReference(`${repo("b")}:${k1}`))).mediaType).toBe(DOCKER_MANIFEST);
    expect(h1!.layer!.mediaType).toBe(DOCKER_LAYER_GZIP);
    expect(h2).toMatchObject({ key: k2, empty: true, layer: undefined, createdBy: "RUN true" });
    expect(store.layerOf(h2!)).toBeUndefined();
    const m2 = JSON.parse(new TextDecoder().decode((await client.getManifest(parseReference(`${repo("b")}:${k2}`))).bytes));
    expect(m2.layers).toEqual([]);
    const cfg = JSON.parse(new TextDecoder().decode(await client.getBlobBytes(parseRepository(repo("b")), m2.config.digest)));
    expect(cfg.config.Labels[LABEL_EMPTY]).toBe("true");
    expect(cfg.history).toEqual([expect.objectContaining({ created_by: "RUN true", empty_layer: true })]);
    expect(warnings).toEqual([]);
  });

  test("entries older than the TTL are misses", async () => {
    const t0 = new Date("2031-05-01T00:00:00Z");
    const k = randomKey();
    await open("ttl", { now: () => t0 }).store.put(k, layerFile(tmp), { createdBy: "RUN x" });
    const at = (ms: number) => open("ttl", { now: () => new Date(t0.getTime() + ms), ttlMs: DAY }).store.probe([k]);
    expect((await at(DAY - 1000))[0]?.key).toBe(k);
    expect((await at(DAY + 1000))[0]).toBeUndefined();
    // No TTL: never expires.
    expect((await open("ttl", { now: () => new Date(t0.getTime() + 1000 * DAY), ttlMs: 0 }).store.probe([k]))[0]?.key).toBe(k);
  });

  test("a repository that does not exist yet is all misses, quietly", async () => {
    const { store, warnings } = open("never-written");
    expect(await store.probe([randomKey(), randomKey(), randomKey()])).toEqual([undefined, undefined, undefined]);
    expect(await store.probe([])).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test("an unreachable registry: probes are warned misses, puts are warnings", async () => {
    const dead = new RegistryClient({ retries: 0 });
    const w = warnings();
    const store = openCacheStore("127.0.0.1:1/cache", { client: dead, ttlMs: DAY, readOnly: false, warn: w.warn });
    expect(await store.probe([randomKey(), randomKey()])).toEqual([undefined, undefined]);
    expect(w.list).toHaveLength(1);
    expect(w.list[0]).toMatch(/2 lookup\(s\) failed, counted as misses/);
    await store.put(randomKey(), layerFile(tmp), { createdBy: "RUN x" });
    expect(w.list).toHaveLength(2);
    expect(w.list[1]).toMatch(/could not store entry/);
  });

  test("a failed put is a warning and leaves no tag", async () => {
    const { store, warnings } = open("fail");
    // The file's bytes do not match the digest it claims: the registry refuses the blob.
    const l = layerFile(tmp);
    const bad = { ...layerFile(tmp), digest: l.digest, size: l.size };
    writeFileSync(bad.path, new Uint8Array(l.size));
    const k = randomKey();
    await store.put(k, bad, { createdBy: "RUN x" });
    expect(warnings).toHaveLength(1);
    expect(await tagExists("fail", k)).toBe(false);
    // A layer file that is gone.
    const k2 = randomKey();
    await store.put(k2, { ...l, path: `${tmp}/missing` }, { createdBy: "RUN x" });
    expect(warnings).toHaveLength(2);
    expect(await tagExists("fail", k2)).toBe(false);
    expect(await store.probe([k, k2])).toEqual([undefined, undefined]);
  });

  test("a tag holding something else is a warned miss", async () => {
    const { store, warnings } = open("foreign");
    const k = randomKey();
    const other = randomKey();
    await store.put(other, layerFile(tmp), { createdBy: "RUN x" });
    const m = await client.getManifest(parseReference(`${repo("foreign")}:${other}`));
    await client.putManifest(parseReference(`${repo("foreign")}:${k}`), m.bytes, m.mediaType);
    expect(await store.probe([k])).toEqual([undefined]);
    expect(warnings[0]).toMatch(/labelled for key/);
  });

  test("two builds writing the same key at once both succeed", async () => {
    const a = open("race");
    const b = open("race");
    const l = layerFile(tmp, OCI_LAYER_GZIP, 200_000);
    const k = randomKey();
    await Promise.all([a.store.put(k, l, { createdBy: "RUN x" }), b.store.put(k, l, { createdBy: "RUN x" }), a.store.put(k, l, { createdBy: "RUN x" })]);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    expect((await a.store.probe([k]))[0]?.layer?.digest).toBe(l.digest);
  });

  test("read-only never writes", async () => {
    const { store, warnings } = open("ro", { readOnly: true });
    const from = logSize(reg.logFile);
    const k = randomKey();
    await store.put(k, layerFile(tmp), { createdBy: "RUN x" });
    await store.put(randomKey(), null, { createdBy: "RUN y" });
    expect(await store.probe([k])).toEqual([undefined]);
    const writes = accessLog(reg.logFile, from).filter((line) => /"(PUT|POST|PATCH|DELETE) /.test(line));
    expect(writes).toEqual([]);
    expect(accessLog(reg.logFile, from).every((line) => line.includes("/v2/") && /"(GET|HEAD) /.test(line))).toBe(true);
    expect(warnings).toEqual([]);
  });

  test("a hit's layer pushed to another repository of the registry is mounted, not uploaded", async () => {
    const { store } = open("mount");
    const l = layerFile(tmp, OCI_LAYER_GZIP, 50_000);
    const k = randomKey();
    await store.put(k, l, { createdBy: "RUN x" });
    const [hit] = await store.probe([k]);
    const layer = store.layerOf(hit!)!;
    expect(layer.sources.map((r) => r.context())).toEqual([repo("mount")]);
    const img = makeImage({ format: "oci", config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.diffId] } }, layers: [layer] });
    const res = await pushImage(client, img, parseReference(`${repo("app")}:1`), { mountFrom: store.repository ? [store.repository] : [] });
    const ev = res.blobs.find((b) => b.digest === l.digest)!;
    expect(ev.action).toBe("mounted");
    expect(ev.from?.context()).toBe(repo("mount"));
  });
});

describe("inferCacheRepo", () => {
  test("explicit, inferred from the first destination, or a clear error", () => {
    expect(inferCacheRepo("127.0.0.1:5000/x/cache", ["r.io/app:1"])).toBe("127.0.0.1:5000/x/cache");
    expect(inferCacheRepo("oci:/tmp/c", [])).toBe("oci:/tmp/c");
    expect(inferCacheRepo(undefined, ["127.0.0.1:5000/team/app:v1", "other.io/x:2"])).toBe("127.0.0.1:5000/team/app/cache");
    expect(inferCacheRepo(undefined, ["busybox"])).toBe("docker.io/library/busybox/cache");
    expect(inferCacheRepo(undefined, ["r.io/app@sha256:" + "ab".repeat(32)])).toBe("r.io/app/cache");
    expect(() => inferCacheRepo(undefined, [])).toThrow(/--cache-repo/);
    expect(() => inferCacheRepo("r.io/app:tag", [])).toThrow(/tag or digest/);
  });
});
