// Child process of the concurrent layout-writer test: adds N entries to one OCI layout, either
// as images (--oci-layout-path, kiln copy) or as cache entries (--cache-repo oci:DIR).
//   bun|deno layout-writer-child.ts DIR image|cache PREFIX N SHARED_LAYER_FILE
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openCacheStore } from "../../src/cache/index.ts";
import { layerFromBytes } from "../../src/image/layer.ts";
import { writeOciLayout } from "../../src/image/layout.ts";
import { OCI_LAYER_GZIP } from "../../src/image/media-types.ts";
import { appendLayers, emptyImage } from "../../src/image/mutate.ts";
import { RegistryClient } from "../../src/registry/client.ts";

const [dir, mode, prefix, n, sharedFile] = process.argv.slice(2);
const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const shared = readFileSync(sharedFile!);
const count = Number(n);
let failed = false;

if (mode === "image") {
  // Every image holds the layer all writers share plus one of its own.
  for (let i = 0; i < count; i++) {
    const own = gzipSync(randomBytes(2000));
    const img = appendLayers(emptyImage("linux/amd64"), [layerFromBytes(shared, OCI_LAYER_GZIP), layerFromBytes(own, OCI_LAYER_GZIP)]);
    await writeOciLayout(img, dir!, `${prefix}-${i}`);
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), "kiln-layout-child-"));
  const store = openCacheStore(`oci:${dir}`, { client: new RegistryClient(), ttlMs: 0, readOnly: false, warn: (m) => { failed = true; console.error(m); } });
  const raw = randomBytes(2000);
  const bytes = gzipSync(raw);
  const path = join(tmp, "layer");
  writeFileSync(path, bytes);
  const layer = { path, mediaType: OCI_LAYER_GZIP, digest: sha(bytes), size: bytes.length, diffId: sha(raw) };
  // The key is the entry's tag in index.json: PREFIX-i padded to a cache key's 64 hex digits.
  const keys = Array.from({ length: count }, (_, i) => createHash("sha256").update(`${prefix}-${i}`).digest("hex"));
  for (const k of keys) await store.put(k, layer, { createdBy: `RUN ${prefix}` });
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
