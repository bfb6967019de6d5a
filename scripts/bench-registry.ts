// Streams a big blob up to and back down from a real local registry and prints peak memory.
// Checks that uploads and downloads never hold a blob in memory.
//
//   bun scripts/bench-registry.ts [SIZE_MIB=1024] [--max-rss-mb N]     (also: deno run -A …)
// Prints one JSON line; exits 1 when peak RSS exceeds --max-rss-mb.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseReference } from "../src/image/reference.ts";
import { RegistryClient } from "../src/registry/client.ts";
import { runtimeVersion, userArgs } from "../src/runtime/index.ts";
import { startRegistry } from "./registry.ts";

/** Peak resident set size of this process in MB (Linux VmHWM; RSS sampling elsewhere). */
function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* not Linux */
  }
  return process.memoryUsage().rss / 1024 / 1024;
}

const args = userArgs();
const sizeMib = Number(args.find((a) => /^\d+$/.test(a)) ?? 1024);
const maxAt = args.indexOf("--max-rss-mb");
const maxRss = maxAt >= 0 ? Number(args[maxAt + 1]) : undefined;

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-"));
const reg = await startRegistry();
try {
  // A file of sizeMib MiB: one random MiB varied per block, hashed as written.
  const file = join(dir, "blob");
  const block = randomBytes(1 << 20);
  const hash = createHash("sha256");
  const fd = openSync(file, "w");
  for (let i = 0; i < sizeMib; i++) {
    block.writeUInt32LE(i, 0);
    hash.update(block);
    writeSync(fd, block);
  }
  closeSync(fd);
  const digest = `sha256:${hash.digest("hex")}`;
  const size = sizeMib << 20;
  const baseline = peakRssMb();

  const client = new RegistryClient();
  const repo = parseReference(`${reg.host}/bench/blob`);
  let t = Date.now();
  await client.uploadBlobFromFile(repo, file, digest, size);
  const uploadS = (Date.now() - t) / 1000;
  const afterUpload = peakRssMb();
  t = Date.now();
  let n = 0;
  for await (const chunk of await client.openBlob(repo, digest, size)) n += chunk.length;
  const downloadS = (Date.now() - t) / 1000;
  if (n !== size) throw new Error(`downloaded ${n} bytes, expected ${size}`);
  const peak = peakRssMb();
  const result = {
    runtime: runtimeVersion(),
    sizeMiB: sizeMib,
    uploadMiBps: Math.round(sizeMib / uploadS),
    downloadMiBps: Math.round(sizeMib / downloadS),
    baselineRssMB: Math.round(baseline),
    peakAfterUploadMB: Math.round(afterUpload),
    peakRssMB: Math.round(peak),
  };
  console.log(JSON.stringify(result));
  if (maxRss !== undefined && peak > maxRss) {
    console.error(`peak RSS ${Math.round(peak)} MB exceeds ${maxRss} MB`);
    process.exitCode = 1;
  }
} finally {
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
}
