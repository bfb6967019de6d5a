// Image assembly for one stage, on src/image/mutate: the layers and history entries the steps
// add (built, reused from the cache, or empty), and the final config once the stage is done.
import { cloneJson } from "../util/clone.ts";
import type { Expanded } from "../dockerfile/index.ts";
import { createCompressor, layerMediaType, type Compression } from "../fs/compression.ts";
import type { WrittenLayer } from "../fs/snapshot.ts";
import { sha256 } from "../image/digest.ts";
import { appendLayers, layerFromBytes, layerFromFile, rfc3339, withConfig, type Image, type Layer } from "../image/index.ts";
import type { HistoryEntry, ImageConfig } from "../image/types.ts";
import { createdBy, type ConfigState } from "./config.ts";

export class StageImage {
  private layers: Layer[] = [];
  private history: HistoryEntry[] = [];
  private created: string;

  constructor(readonly base: Image, now: Date) {
    this.created = rfc3339(now);
  }

  /** Layers added so far (a miss after hits unpacks these on top of the base). */
  get added(): readonly Layer[] {
    return this.layers;
  }

  /** A step's layer (a built file or a cached blob), or its empty history entry when null. */
  add(layer: WrittenLayer | Layer | null, x: Expanded, createdByText = createdBy(x)): void {
    if (!layer) {
      this.history.push({ created: this.created, created_by: createdByText, comment: "kiln", empty_layer: true });
      return;
    }
    this.layers.push("open" in layer ? layer : layerFromFile(layer));
    this.history.push({ created: this.created, created_by: createdByText, comment: "kiln" });
  }

  /** Forget everything added (the stage starts over after a cached layer failed). */
  reset(): void {
    this.layers = [];
    this.history = [];
  }

  /** The stage's image: base + added layers and history, the final config, `created`. */
  finish(state: ConfigState, scratchPlatform?: { os: string; arch: string; variant?: string }): Image {
    // Config first, on the base (its history is short), then one append of the stage's history.
    const cfg = cloneJson(this.base.config) as ImageConfig;
    cfg.config = state.config;
    if (state.author) cfg.author = state.author;
    cfg.created = this.created;
    if (scratchPlatform) {
      cfg.os = scratchPlatform.os;
      cfg.architecture = scratchPlatform.arch;
      if (scratchPlatform.variant) cfg.variant = scratchPlatform.variant;
    }
    return appendLayers(withConfig(this.base, cfg), this.layers, this.history);
  }
}

/** An empty tar (two zero blocks) as a layer, for --force-build-metadata's metadata steps. */
export async function emptyTarLayer(compression: Compression, level?: number): Promise<Layer> {
  const tar = new Uint8Array(1024);
  const c = createCompressor(compression, level);
  if (!c) return layerFromBytes(tar, layerMediaType("none"), sha256(tar));
  const chunks: Uint8Array[] = [];
  c.on("data", (d: Uint8Array) => chunks.push(d));
  const done = new Promise((ok, fail) => (c.on("end", ok), c.on("error", fail)));
  c.end(tar);
  await done;
  return layerFromBytes(Buffer.concat(chunks), layerMediaType(compression), sha256(tar));
}
