// Overlay snapshotter (placeholder until implemented): init() fails so "auto" falls back to walk.
import { KilnError } from "../util/errors.ts";
import type { Snapshotter, SnapshotterOptions } from "./snapshot.ts";
import type { WrittenLayer } from "./layer-writer.ts";

export class OverlaySnapshotter implements Snapshotter {
  readonly strategy = "overlay" as const;
  constructor(_opts: SnapshotterOptions) {}
  async init(): Promise<void> {
    throw new KilnError("overlay strategy not implemented yet");
  }
  snapshot(_outDir: string): Promise<WrittenLayer | null> {
    throw new KilnError("overlay strategy not implemented yet");
  }
  snapshotPaths(_paths: string[], _outDir: string): Promise<WrittenLayer> {
    throw new KilnError("overlay strategy not implemented yet");
  }
  async close(): Promise<void> {}
}
