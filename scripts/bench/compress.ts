// Layer compression and hashing throughput (issue 9 micro-benchmarks):
//  1. kiln's layer writer (src/fs/layer-writer.ts: tar + sha256 twice + gzip/zstd) vs the gzip
//     and zstd CLIs, all on the same tar: the debian base layer, uncompressed, on tmpfs.
//  2. SHA-256 through node:crypto (run it under Bun and Deno: --sha-only skips part 1).
//
//   bun scripts/bench/compress.ts [--runs=3] [--sha-only]        deno run -A scripts/bench/compress.ts --sha-only
// Prints one line per row and, last, a JSON line `{"rows":[…]}` for scripts/bench.ts --micro.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { LayerWriter } from "../../src/fs/layer-writer.ts";
import { zstdSupported } from "../../src/fs/compression.ts";
import { readTar } from "../../src/tar/reader.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { cachedLayer } from "../base-images.ts";
import { bestOf } from "./measure.ts";

const args = process.argv.slice(2);
const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 3);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "bun" : "deno";
const shm = statSync("/dev/shm", { throwIfNoEntry: false })?.isDirectory() ? "/dev/shm" : "/tmp";
const dir = mkdtempSync(join(shm, "kiln-bench-compress-"));
const rows: { name: string; runtime: string; MBps: number; ratio?: number }[] = [];

const best = (fn: () => unknown) => bestOf(runs, fn);

function row(name: string, mb: number, s: number, ratio?: number): void {
  rows.push({ name, runtime, MBps: Math.round(mb / s), ...(ratio === undefined ? {} : { ratio: Number(ratio.toFixed(3)) }) });
  console.log(`${name.padEnd(34)} ${(mb / s).toFixed(0).padStart(6)} MB/s${ratio === undefined ? "" : `   output/input ${ratio.toFixed(3)}`}`);
}

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

try {
  if (!args.includes("--sha-only")) {
    // The debian base layer as a plain tar: real file mix (binaries, text, symlinks), ~77 MB.
    const { file } = await cachedLayer("debian");
    const tar = gunzipSync(readFileSync(file));
    const tarPath = join(dir, "in.tar");
    writeFileSync(tarPath, tar);
    const mb = tar.length / 1e6;
    console.log(`input: debian base layer tar, ${mb.toFixed(1)} MB on ${shm}, best of ${runs}, runtime ${runtime}`);
    // Entries in memory first, so the writer rows time tar framing + hashing + compression only.
    const entries: { header: TarHeader; body: Uint8Array }[] = [];
    for await (const e of readTar(chunked(tar, 1 << 20))) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c.slice());
      entries.push({ header: e.header, body: Buffer.concat(parts) });
    }
    const writer = async (compression: "gzip" | "zstd", level: number | undefined, label: string) => {
      let size = 0;
      const s = await best(async () => {
        const out = join(dir, "layers");
        const w = new LayerWriter(out, { compression, level });
        for (const e of entries) await w.add(e.header, e.header.type === "file" && e.body.length > 0 ? e.body : undefined);
        const l = await w.finish();
        size = l.size;
        rmSync(l.path);
      });
      row(`kiln LayerWriter ${label}`, mb, s, size / tar.length);
    };
    const cli = async (label: string, cmd: string) => {
      const out = join(dir, "cli.out");
      const s = await best(() => {
        const r = spawnSync("sh", ["-c", `${cmd} < ${tarPath} > ${out}`]);
        if (r.status !== 0) throw new Error(`${cmd} failed`);
      });
      row(label, mb, s, statSync(out).size / tar.length);
      rmSync(out);
    };
    await writer("gzip", 1, "gzip -1");
    await cli("gzip -1 (CLI)", "gzip -1 -c");
    await writer("gzip", undefined, "gzip (default, 6)");
    await cli("gzip -6 (CLI)", "gzip -6 -c");
    if (zstdSupported()) await writer("zstd", undefined, "zstd (default, 3)");
    await cli("zstd -3 (CLI, 1 thread)", "zstd -3 -T1 -q -c");
    await cli("zstd -3 (CLI, all cores)", "zstd -3 -T0 -q -c");
    // Reading the tar back through the hash alone: the floor under every writer row.
    row("sha256 of the tar (stream from tmpfs)", mb, await best(async () => {
      const h = createHash("sha256");
      for await (const c of createReadStream(tarPath, { highWaterMark: 1 << 20 })) h.update(c as Uint8Array);
      h.digest();
    }));
  }
  // SHA-256 on 512 MiB in 1 MiB updates (what the layer writer and blob uploads do).
  const block = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
  const sha = await best(() => {
    const h = createHash("sha256");
    for (let i = 0; i < 512; i++) h.update(block);
    h.digest("hex");
  });
  row(`sha256 node:crypto (${runtime})`, 512 * 1.048576, sha);
  if (runtime === "bun") {
    const f = join(dir, "sha.bin");
    writeFileSync(f, Buffer.concat(Array.from({ length: 256 }, () => block)));
    row("sha256sum (CLI, 256 MiB on tmpfs)", 256 * 1.048576, await best(() => spawnSync("sha256sum", [f])));
  }
  console.log(JSON.stringify({ rows }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
