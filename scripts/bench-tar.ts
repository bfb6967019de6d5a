// Throughput of kiln's tar codec vs GNU tar on the same data (a copy of /usr/bin on tmpfs).
// Usage: bun scripts/bench-tar.ts [sourceDir=/usr/bin] [--runs=3]
// Ours runs on an in-memory archive; GNU tar works on tmpfs, so neither touches a disk.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { readTar } from "../src/tar/reader.ts";
import { TarPushReader } from "../src/tar/push-reader.ts";
import { TarWriter } from "../src/tar/writer.ts";
import type { TarHeader } from "../src/tar/types.ts";
import { bestOf } from "./bench/measure.ts";

const args = process.argv.slice(2);
const source = args.find((a) => !a.startsWith("--")) ?? "/usr/bin";
const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 3);
const shm = statSync("/dev/shm", { throwIfNoEntry: false })?.isDirectory() ? "/dev/shm" : "/tmp";
const dir = mkdtempSync(join(shm, "kiln-bench-tar-"));

function sh(cmd: string): void {
  const r = spawnSync("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status})`);
}

const best = (fn: () => unknown) => bestOf(runs, fn);

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function* fromArray(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

try {
  sh(`cp -a ${JSON.stringify(source)} ${dir}/tree`);
  const archivePath = join(dir, "in.tar");
  const tarCreate = await best(() => sh(`tar -cf ${archivePath} -C ${dir} tree`));
  const archive = readFileSync(archivePath);
  const mb = archive.length / 1e6;
  const tarExtract = await best(() => {
    rmSync(join(dir, "x"), { recursive: true, force: true });
    mkdirSync(join(dir, "x"));
    sh(`tar -xf ${archivePath} -C ${dir}/x`);
  });
  const tarToStdout = await best(() => sh(`tar -xOf ${archivePath} > /dev/null`));

  // Read: parse every header and pull every body chunk (64 KiB source chunks, like a gunzip stream).
  let entries: { header: TarHeader; body: Uint8Array[] }[] = [];
  const ourRead = await best(async () => {
    entries = [];
    for await (const e of readTar(chunked(archive, 65536))) {
      const body: Uint8Array[] = [];
      for await (const c of e.body) body.push(c);
      entries.push({ header: e.header, body });
    }
  });
  // The push reader (what the unpacker uses): same chunks, fed synchronously, bodies touched.
  const ourPush = await best(() => {
    let n = 0;
    const r = new TarPushReader({ entry: () => void n++, body: (b) => void (n += b.length & 1), end: () => {} });
    for (let i = 0; i < archive.length; i += 65536) r.push(archive.subarray(i, i + 65536));
    r.finish();
  });
  const ourSkip = await best(async () => {
    for await (const _ of readTar(chunked(archive, 65536)));
  });
  // Write: headers plus bodies already in memory, collected by the sink.
  let written = 0;
  const ourWrite = await best(async () => {
    const out: Uint8Array[] = [];
    const w = new TarWriter((c) => {
      out.push(c);
    });
    for (const e of entries) await w.add(e.header, e.body.length === 1 ? e.body[0] : fromArray(e.body));
    await w.finish();
    written = w.bytesWritten;
  });

  const rate = (s: number) => `${(mb / s).toFixed(0).padStart(6)} MB/s`;
  console.log(`data: ${source}, ${entries.length} entries, archive ${mb.toFixed(1)} MB (rewritten ${(written / 1e6).toFixed(1)} MB), best of ${runs}`);
  console.log(`kiln readTar (bodies read)     ${rate(ourRead)}`);
  console.log(`kiln readTar (bodies skipped)  ${rate(ourSkip)}`);
  console.log(`kiln TarPushReader (unpacker)  ${rate(ourPush)}`);
  console.log(`GNU tar -xOf > /dev/null       ${rate(tarToStdout)}   kiln/tar = ${(tarToStdout / ourRead).toFixed(2)}x`);
  console.log(`GNU tar -xf to tmpfs           ${rate(tarExtract)}   kiln/tar = ${(tarExtract / ourRead).toFixed(2)}x`);
  console.log(`kiln TarWriter (memory)        ${rate(ourWrite)}`);
  console.log(`GNU tar -cf from tmpfs         ${rate(tarCreate)}   kiln/tar = ${(tarCreate / ourWrite).toFixed(2)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
