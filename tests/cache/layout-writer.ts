// Child process for the concurrent-writers test: puts entries into a cache layout.
//   bun layout-writer.ts DIR LAYER_JSON KEY...
import { openCacheStore } from "../../src/cache/index.ts";
import { RegistryClient } from "../../src/registry/client.ts";

const [dir, layerJson, ...keys] = process.argv.slice(2);
const layer = JSON.parse(layerJson!);
let failed = false;
const store = openCacheStore(`oci:${dir}`, { client: new RegistryClient(), ttlMs: 0, readOnly: false, warn: (m) => { failed = true; console.error(m); } });
await Promise.all(keys.map((k, i) => store.put(k, i % 3 === 2 ? null : layer, { createdBy: `RUN ${k}` })));
process.exit(failed ? 1 : 0);
