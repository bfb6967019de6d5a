// The one OCI-layout writer: processes on Bun and on Deno, writing images and cache entries into
// one layout at once, lose no index entry; blobs appear only whole and digest-checked; a lock
// left by a dead process does not block the next writer.
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { isCacheKey } from "../../src/cache/key.ts";
import { blobPath, OciLayoutWriter, REF_NAME } from "../../src/image/layout-writer.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { OCI_MANIFEST } from "../../src/image/media-types.ts";
import { baseLayouts } from "../env.ts";

const root = join(import.meta.dir, "../..");
const tmp = mkdtempSync(join(tmpdir(), "kiln-layout-writer-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

const runtimes: Record<string, string[]> = {
  bun: [join(root, "node_modules/.bin/bun")],
  deno: [join(root, "node_modules/.bin/deno"), "run", "-A"],
};

function child(rt: string, args: string[]): Promise<{ code: number | null; err: string }> {
  const [exe, ...pre] = runtimes[rt]!;
  return new Promise((resolve) => {
    const p = spawn(exe!, [...pre, join(import.meta.dir, "layout-writer-child.ts"), ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (c) => (err += c));
    p.on("close", (code) => resolve({ code, err }));
  });
}

/** Files a writer leaves only while it works: temp blobs, temp index, the lock. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.tmp-|\.lock|\.stale-/.test(e.name)) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

describe("OCI layout writer", () => {
  test("two builds at once, each writing its image (--oci-layout-path) and its cache (--cache-repo oci:) into one layout", async () => {
    const layout = join(tmp, "shared-by-builds");
    const busybox = (await baseLayouts()).busybox;
    const run = (name: string) => {
      const ctx = join(tmp, `ctx-${name}`);
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), `FROM oci-layout://${busybox}:latest\nCOPY ${name}.txt /\nCOPY ${name}.txt /again/\n`);
      writeFileSync(join(ctx, `${name}.txt`), randomBytes(8).toString("hex"));
      const args = ["build", "-c", ctx, "--no-push", "-d", `example.test/app:${name}`, "--oci-layout-path", layout, "--cache", "--cache-repo", `oci:${layout}`];
      return new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(runtimes.bun![0]!, [join(root, "mod.ts"), ...args], { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        p.stderr.on("data", (c) => (err += c));
        p.on("close", (code) => resolve({ code, err }));
      });
    };
    const [a, b] = await Promise.all([run("a"), run("b")]);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    const names: string[] = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests.map((d: { annotations: Record<string, string> }) => d.annotations[REF_NAME]);
    expect(names.filter((n) => !isCacheKey(n)).sort()).toEqual(["a", "b"]);
    expect(names.filter((n) => isCacheKey(n))).toHaveLength(4); // two COPY steps per build
    expect(readOciLayout(layout, "a").layers).toHaveLength(3);
    expect(readOciLayout(layout, "b").layers).toHaveLength(3);
    expect(leftovers(layout)).toEqual([]);
  }, 180_000);

  test("four processes (Bun and Deno, images and cache entries) into one layout: every entry present", async () => {
    const dir = join(tmp, "race");
    const sharedLayer = join(tmp, "shared.gz");
    writeFileSync(sharedLayer, gzipSync(randomBytes(50_000)));
    const N = 12;
    const writers = [
      ["bun", "image", "bun-img"],
      ["deno", "image", "deno-img"],
      ["bun", "cache", "bun-cache"],
      ["deno", "cache", "deno-cache"],
    ] as const;
    const results = await Promise.all(writers.map(([rt, mode, prefix]) => child(rt, [dir, mode, prefix, String(N), sharedLayer])));
    expect(results).toEqual(writers.map(() => ({ code: 0, err: "" })));

    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.schemaVersion).toBe(2);
    const tags: string[] = index.manifests.map((d: { annotations: Record<string, string> }) => d.annotations[REF_NAME]);
    expect(tags).toHaveLength(4 * N);
    expect(new Set(tags).size).toBe(4 * N);
    for (const [, mode, prefix] of writers) {
      for (let i = 0; i < N; i++) {
        const tag = mode === "image" ? `${prefix}-${i}` : createHash("sha256").update(`${prefix}-${i}`).digest("hex");
        if (mode === "cache") expect(isCacheKey(tag)).toBe(true);
        expect(tags).toContain(tag);
        // Reading checks every manifest and config blob against its digest.
        const img = readOciLayout(dir, tag, { os: "linux", architecture: "amd64" });
        expect(img.mediaType).toBe(OCI_MANIFEST);
      }
    }
    // Every layer blob, the shared one written by two processes at once included, is whole.
    for (const f of readdirSync(join(dir, "blobs", "sha256"))) {
      expect(sha(readFileSync(join(dir, "blobs", "sha256", f)))).toBe(`sha256:${f}`);
    }
    expect(leftovers(dir)).toEqual([]);
  }, 180_000);

  test("a blob whose bytes do not match its digest is never stored", async () => {
    const dir = join(tmp, "bad-blob");
    const w = new OciLayoutWriter(dir).init();
    const good = randomBytes(1000);
    const other = randomBytes(1000);
    const d = sha(good);
    await expect(w.putStream(d, good.length, async () => (async function* () { yield other; })())).rejects.toThrow(/does not match its digest/);
    await expect(w.putStream(d, good.length + 1, async () => (async function* () { yield good; })())).rejects.toThrow(/expected 1001/);
    expect(() => w.putBytes(other, d)).toThrow(/does not match its content/);
    expect(existsSync(blobPath(dir, d))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
    await w.putStream(d, good.length, async () => (async function* () { yield good.subarray(0, 10); yield good.subarray(10); })());
    expect(readFileSync(blobPath(dir, d))).toEqual(good);
  });

  test("a lock left by a dead process is broken at once; the entry is added", async () => {
    const dir = join(tmp, "stale");
    const w = new OciLayoutWriter(dir).init();
    // A process that has exited: its PID (same PID namespace) is no longer alive.
    const dead = await new Promise<number>((resolve) => {
      const p = spawn("true");
      p.on("close", () => resolve(p.pid!));
    });
    if (!existsSync("/proc/self/ns/pid")) throw new Error("this test needs Linux /proc (the lock names its holder's PID namespace)");
    writeFileSync(join(dir, "index.json.lock"), `${dead}\n${readlinkSync("/proc/self/ns/pid")}\n`);
    const bytes = new TextEncoder().encode("{}");
    const d = w.putBytes(bytes);
    await w.addManifest({ mediaType: OCI_MANIFEST, digest: d, size: bytes.length }, "after-crash");
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations[REF_NAME])).toEqual(["after-crash"]);
    expect(leftovers(dir)).toEqual([]);
  });
});
