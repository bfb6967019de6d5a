// The cache-mount sync without a build or a registry (--cache-run-mounts): the planner's cache
// directories over an in-memory store with the real entry format. Each "runner" is a fresh,
// empty --cache-mount-dir; what one stores, the next fetches. End to end: cache-mounts.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryCacheStore } from "../../src/cache/memory-store.ts";
import { cacheMountKey, CacheMountSync } from "../../src/cache/mount-store.ts";
import { sha256 } from "../../src/image/digest.ts";
import type { ExpandedRun } from "../../src/dockerfile/index.ts";
import { planRunMounts, type MountContext } from "../../src/executor/run-mounts.ts";
import { TarWriter } from "../../src/tar/writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-cache-mount-sync-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const PLATFORM = { os: "linux", architecture: "amd64" };
const DAY = 86_400_000;

function run(mounts: string[]): ExpandedRun {
  return {
    kind: "run", line: 2, endLine: 2, original: "RUN x", json: false, args: ["x"], argv: ["/bin/sh", "-c", "x"], heredocs: [], files: [],
    mounts, mountFrom: [], devices: [], env: [], buildArgs: {}, proxyEnv: {},
  };
}

interface Runner {
  sync: CacheMountSync;
  dir: string;
  logs: string[];
  warns: string[];
  /** Plan the RUN's mounts (fetching as a build does) and return the cache directory of the first. */
  mount(spec?: string): Promise<string>;
}

let n = 0;
/** A cold runner: an empty cache-mount root, the shared store, a clock. */
function runner(store: MemoryCacheStore, o: { now?: () => Date; readOnly?: boolean; ttlMs?: number } = {}): Runner {
  const dir = join(tmp, `runner-${++n}`);
  const work = join(tmp, `work-${n}`);
  mkdirSync(work, { recursive: true });
  const logs: string[] = [];
  const warns: string[] = [];
  const log = { info: (m: string) => logs.push(m), debug: () => {}, warn: (m: string) => warns.push(m) };
  const sync = new CacheMountSync({ store, platform: PLATFORM, ttlMs: o.ttlMs ?? 14 * DAY, readOnly: !!o.readOnly, workDir: work, log, now: o.now });
  const mc: MountContext = { contextDir: tmp, cwd: "/", rootOf: async () => tmp, opts: { cacheMountDir: dir }, scratch: work, warn: () => {}, remote: sync };
  return {
    sync, dir, logs, warns,
    async mount(spec = "type=cache,id=pkgs,target=/cache") {
      const p = await planRunMounts(run([spec]), mc);
      p.release();
      return (p.mounts[0] as { source: string }).source;
    },
  };
}

const key = cacheMountKey("pkgs", PLATFORM);

function fill(dir: string, files: Record<string, string>): void {
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    writeFileSync(join(dir, f), c);
  }
}

describe("CacheMountSync over the planner", () => {
  test("a cold runner gets what the last one stored; unchanged content is not stored again; a change is", async () => {
    const store = new MemoryCacheStore();
    const a = runner(store);
    const da = await a.mount();
    expect(readdirSync(da)).toEqual([]);
    fill(da, { "deb/a.deb": "package a\n", "deb/b.deb": "package b\n", "lock": "" });
    await a.sync.storeChanged();
    expect(store.puts).toEqual([key]);

    const b = runner(store);
    const db = await b.mount();
    expect(db).not.toBe(da);
    expect(readFileSync(join(db, "deb", "a.deb"), "utf8")).toBe("package a\n");
    expect(readdirSync(db).sort()).toEqual(["deb", "lock"]);
    expect(b.logs.some((l) => l.startsWith(`cache mount "pkgs": fetched`))).toBe(true);
    // A second RUN of the id in the same build does not fetch again.
    await b.mount("type=cache,id=pkgs,target=/other");
    expect(b.logs.filter((l) => l.includes("fetched")).length).toBe(1);
    await b.sync.storeChanged();
    expect(store.puts).toEqual([key]);
    expect(b.logs).toContain(`cache mount "pkgs": unchanged (untouched since it was synced), not stored again`);

    const c = runner(store);
    const dc = await c.mount();
    fill(dc, { "deb/c.deb": "package c\n" });
    await c.sync.storeChanged();
    expect(store.puts).toEqual([key, key]);
    const d = runner(store);
    expect(readdirSync(join(await d.mount(), "deb")).sort()).toEqual(["a.deb", "b.deb", "c.deb"]);
  });

  test("files rewritten with the same bytes (new times, new inodes) are not a change; the entry names its content digest", async () => {
    const store = new MemoryCacheStore();
    const a = runner(store);
    fill(await a.mount(), { "lists/InRelease": "release\n", "lists/Packages": "pkgs\n" });
    await a.sync.storeChanged();
    const [hit] = await store.probe([key]);
    expect(hit!.createdBy).toMatch(/^kiln: cache mount pkgs content sha256:[0-9a-f]{64}$/);
    const b = runner(store);
    const db = await b.mount();
    rmSync(join(db, "lists", "InRelease"));
    await Bun.sleep(20);
    fill(db, { "lists/InRelease": "release\n" });
    await b.sync.storeChanged();
    expect(store.puts.length).toBe(1);
    expect(b.logs).toContain(`cache mount "pkgs": unchanged (same content digest), not stored again`);
    // One byte more is a change.
    fill(db, { "lists/InRelease": "release!\n" });
    await b.sync.storeChanged();
    expect(store.puts.length).toBe(2);
  });

  test("the directory's mode and owner come from the mount options, as for a new local cache", async () => {
    const store = new MemoryCacheStore();
    const a = runner(store);
    const da = await a.mount("type=cache,id=pkgs,target=/c,uid=1000,gid=1000,mode=0700");
    fill(da, { f: "x" });
    chownSync(join(da, "f"), 1000, 1000);
    await a.sync.storeChanged();
    const db = await runner(store).mount("type=cache,id=pkgs,target=/c,uid=1000,gid=1000,mode=0700");
    const st = statSync(db);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o700, 1000, 1000]);
    expect(statSync(join(db, "f")).uid).toBe(1000);
  });

  test("a local non-empty copy is kept; with the stored content it is not stored again (content digest)", async () => {
    const store = new MemoryCacheStore();
    const a = runner(store);
    fill(await a.mount(), { "x/y": "same" });
    await a.sync.storeChanged();
    // A runner that already has a non-empty local copy keeps it, even when it differs.
    const b = runner(store);
    const name = createHash("sha256").update("pkgs").digest("hex").slice(0, 32); // run-mounts.ts: one directory per id
    mkdirSync(join(b.dir, name, "x"), { recursive: true });
    writeFileSync(join(b.dir, name, "x", "y"), "local!");
    const db = await b.mount();
    expect(readFileSync(join(db, "x", "y"), "utf8")).toBe("local!");
    expect(b.logs.some((l) => l.includes("fetched"))).toBe(false);
    await b.sync.storeChanged();
    expect(store.puts.length).toBe(2); // changed content is stored

    const c = runner(store);
    const dc = join(c.dir, name);
    mkdirSync(dc, { recursive: true });
    // The same content made independently (no sync marker): GNU cp -a keeps mtimes, owners, modes.
    expect(spawnSync("cp", ["-a", `${join(b.dir, name)}/.`, dc]).status).toBe(0);
    await c.mount();
    await c.sync.storeChanged();
    expect(store.puts.length).toBe(2); // identical to what is stored: compared by digest, not uploaded
    expect(c.logs).toContain(`cache mount "pkgs": unchanged (same content digest), not stored again`);
  });

  test("an entry older than --cache-ttl is ignored; an unchanged one past half the TTL is written again", async () => {
    let now = new Date("2026-01-01T00:00:00Z");
    const clock = () => now;
    const store = new MemoryCacheStore({ ttlMs: 10 * DAY, now: clock });
    const a = runner(store, { now: clock, ttlMs: 10 * DAY });
    fill(await a.mount(), { f: "1" });
    await a.sync.storeChanged();
    now = new Date(now.getTime() + 6 * DAY);
    const b = runner(store, { now: clock, ttlMs: 10 * DAY });
    expect(readdirSync(await b.mount())).toEqual(["f"]);
    await b.sync.storeChanged();
    expect(store.puts.length).toBe(2); // refreshed
    now = new Date(now.getTime() + 11 * DAY);
    const c = runner(store, { now: clock, ttlMs: 10 * DAY });
    expect(readdirSync(await c.mount())).toEqual([]);
    expect(c.logs.some((l) => l.includes("fetched"))).toBe(false);
  });

  test("a corrupt or missing blob is a warning and an empty cache; the next store repairs it", async () => {
    const store = new MemoryCacheStore();
    const a = runner(store);
    fill(await a.mount(), { f: "good" });
    await a.sync.storeChanged();
    const [hit] = await store.probe([key]);
    const blob = hit!.layer!.digest;
    store.blobs.set(blob, new Uint8Array([1, 2, 3]));
    const b = runner(store);
    const db = await b.mount();
    expect(readdirSync(db)).toEqual([]);
    expect(b.warns.join("\n")).toContain(`cache mount "pkgs": could not fetch the stored copy from memory`);
    expect(readdirSync(b.dir).filter((f) => f.includes(".fetch-"))).toEqual([]);
    // The RUN makes the same content again: the entry says it holds that, but its blob is bad, so it is replaced.
    fill(db, { f: "good" });
    await b.sync.storeChanged();
    expect(store.puts.length).toBe(2);
    expect(readFileSync(join(await runner(store).mount(), "f"), "utf8")).toBe("good");
    store.blobs.delete((await store.probe([key]))[0]!.layer!.digest);
    const c = runner(store);
    const dc = await c.mount();
    expect(readdirSync(dc)).toEqual([]);
    expect(c.warns.length).toBe(1);
    fill(dc, { f: "again" });
    await c.sync.storeChanged();
    expect(readFileSync(join(await runner(store).mount(), "f"), "utf8")).toBe("again");
  });

  test("--no-push-cache reads, never writes; sharing=private and read-only mounts are never stored", async () => {
    const store = new MemoryCacheStore();
    const ro = runner(store, { readOnly: true });
    fill(await ro.mount(), { f: "x" });
    await ro.sync.storeChanged();
    expect(store.puts).toEqual([]);
    const priv = runner(store);
    fill(await priv.mount("type=cache,id=pkgs,target=/c,sharing=private"), { f: "x" });
    await priv.mount("type=cache,id=pkgs,target=/c,ro");
    await priv.sync.storeChanged();
    expect(store.puts).toEqual([]);
    const shared = runner(store);
    fill(await shared.mount(), { f: "x" });
    await shared.sync.storeChanged();
    expect(store.puts).toEqual([key]);
    const reader = runner(store, { readOnly: true });
    expect(readdirSync(await reader.mount())).toEqual(["f"]);
  });

  /** Store a hand-made tar (uncompressed) as the entry of "pkgs". */
  async function putTar(store: MemoryCacheStore, entries: [string, "file" | "symlink", string][]): Promise<void> {
    const chunks: Uint8Array[] = [];
    const w = new TarWriter((c) => void chunks.push(c.slice()));
    const enc = new TextEncoder();
    for (const [name, type, data] of entries) {
      if (type === "symlink") await w.add({ name, type, linkname: data, mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0 });
      else await w.add({ name, type, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0 }, enc.encode(data));
    }
    await w.finish();
    const tar = Buffer.concat(chunks);
    const path = join(tmp, `hand-${++n}.tar`);
    writeFileSync(path, tar);
    const digest = sha256(tar);
    await store.put(key, { path, mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size: tar.length, diffId: digest }, { createdBy: "kiln: cache mount pkgs" });
  }

  test("a hostile blob cannot write outside the cache directory", async () => {
    // A symlink to "/" is followed inside the directory, as the unpacker treats a rootfs.
    const store = new MemoryCacheStore();
    await putTar(store, [["ok", "file", "ok"], ["link", "symlink", "/"], ["link/kiln-escaped", "file", "x"]]);
    const r = runner(store);
    const d = await r.mount();
    expect(existsSync("/kiln-escaped")).toBe(false);
    expect(readFileSync(join(d, "kiln-escaped"), "utf8")).toBe("x");
    expect(r.warns).toEqual([]);
    // ".." out of it: refused, a warning, an empty cache.
    const store2 = new MemoryCacheStore();
    await putTar(store2, [["ok", "file", "ok"], ["../../up", "file", "x"]]);
    const r2 = runner(store2);
    expect(readdirSync(await r2.mount())).toEqual([]);
    expect(existsSync(join(tmp, "up"))).toBe(false);
    expect(r2.warns.join("\n")).toContain(`"../../up" climbs out of the destination`);
  });
});
