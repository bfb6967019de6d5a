// Snapshotters: what changed in the rootfs since the last snapshot, as a layer file.
// "walk" compares lstat metadata against an index; "overlay" (src/fs/overlay.ts) lets the kernel
// record changes in an upper dir. Both re-baseline after every snapshot.
import fs from "node:fs";
import { KilnError } from "../util/errors.ts";
import { addParents, diffIndexes, emptyPlan, planIsEmpty, type LayerPlan } from "./diff.ts";
import type { WrittenLayer } from "./layer-writer.ts";
import { writePlanLayer, type PlanWriteOptions } from "./plan-writer.ts";
import { cleanArchivePath, RootResolver } from "./resolve.ts";
import { hostPath, ignoreSet, metaOf, newestTime, settleClock, T_FILE, walkTree, type TreeIndex } from "./tree-index.ts";
import type { Compression } from "./compression.ts";

export type { WrittenLayer } from "./layer-writer.ts";

export interface Snapshotter {
  /** The strategy actually in use ("auto" resolves at init). */
  readonly strategy: "walk" | "overlay";
  /** Index the rootfs as it is now (after unpacking base and cached layers). */
  init(): Promise<void>;
  /** Changes since init or the last snapshot, as a layer file in outDir; null when nothing changed. */
  snapshot(outDir: string): Promise<WrittenLayer | null>;
  /**
   * A layer of exactly these rootfs-absolute paths (directories recursively, parents included;
   * a path that no longer exists becomes a whiteout), for COPY/ADD. The index is updated so the
   * next snapshot() does not report them again.
   */
  snapshotPaths(paths: string[], outDir: string): Promise<WrittenLayer>;
  /** Release what the strategy holds (the overlay mount). Safe to call twice. */
  close(): Promise<void>;
  /** Leave these rootfs-absolute paths (and what is below them) out of later snapshots (VOLUME). */
  addIgnored(paths: string[]): void;
}

export interface SnapshotterOptions {
  rootfs: string;
  strategy: "walk" | "overlay" | "auto";
  /** rootfs-absolute paths never put in a layer, with their subtrees ("/proc", "/kiln"). */
  ignore: string[];
  compression: Compression;
  level?: number;
  reproducible?: { epoch: number };
  /** Where the overlay strategy keeps its upper/work dirs (same filesystem as each other). */
  stateDir?: string;
  /** One-line notices (e.g. falling back from overlay to walk). */
  onNotice?: (msg: string) => void;
  /**
   * The rootfs is a skeleton (applyLayer's `skeleton`): the inodes of its emptied files. Only
   * snapshotPaths() may be used, and a layer must never take one of those files.
   */
  skeleton?: ReadonlySet<number>;
}

export function createSnapshotter(opts: SnapshotterOptions): Snapshotter {
  if (opts.strategy === "walk" || opts.skeleton) return new WalkSnapshotter(opts);
  return new LazyOverlay(opts);
}

export class WalkSnapshotter implements Snapshotter {
  readonly strategy = "walk" as const;
  private root: string;
  private ignore: Set<string>;
  private index: TreeIndex = new Map();
  private write: PlanWriteOptions;
  private skeleton?: ReadonlySet<number>;

  constructor(opts: SnapshotterOptions) {
    this.root = fs.realpathSync(opts.rootfs);
    this.ignore = ignoreSet(opts.ignore);
    this.write = { compression: opts.compression, level: opts.level, reproducible: opts.reproducible };
    this.skeleton = opts.skeleton;
  }

  async init(): Promise<void> {
    this.index = await walkTree(this.root, this.ignore);
    await settleClock(newestTime(this.index.values()));
  }

  async snapshot(outDir: string): Promise<WrittenLayer | null> {
    if (this.skeleton) throw new KilnError("internal: a whole-rootfs snapshot of a skeleton rootfs");
    const after = await walkTree(this.root, this.ignore);
    const plan = diffIndexes(this.index, after);
    const layer = planIsEmpty(plan) ? null : await writePlanLayer(this.root, plan, outDir, this.write);
    this.index = after;
    await settleClock(newestTime(after.values()));
    return layer;
  }

  async snapshotPaths(paths: string[], outDir: string): Promise<WrittenLayer> {
    const plan = emptyPlan();
    const r = new RootResolver(this.root);
    const fresh: TreeIndex = new Map();
    for (const p of paths) {
      const lexical = cleanArchivePath(p);
      if (lexical === "") throw new KilnError(`snapshotPaths: "${p}" is the whole rootfs; use snapshot()`);
      // Resolve parents inside the rootfs: "/bin/x" with /bin -> /usr/bin is really usr/bin/x.
      const { real } = r.parent(lexical, false);
      if (this.ignore.has(real)) continue;
      const before: TreeIndex = new Map();
      for (const [k, m] of this.index) if (k === real || k.startsWith(real + "/")) before.set(k, m);
      const after: TreeIndex = new Map();
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(hostPath(this.root, real));
      } catch {
        // Gone: st stays null and the path is recorded as deleted below.
      }
      if (st) {
        after.set(real, metaOf(st));
        if (st.isDirectory()) await walkTree(this.root, this.ignore, real, after);
      }
      for (const k of before.keys()) this.index.delete(k);
      diffIndexes(before, after, plan, true);
      if (st) plan.entries.add(real); // named, so written (diffIndexes spares untouched files found below)
      if (!st && before.has(real)) plan.whiteouts.add(real);
      for (const [k, m] of after) fresh.set(k, m);
    }
    addParents(plan);
    if (this.skeleton) this.checkSkeleton(plan, fresh);
    // Parents were touched too (new children change their mtime): refresh them in the index.
    for (const p of plan.entries) {
      if (fresh.has(p)) continue;
      try {
        fresh.set(p, metaOf(fs.lstatSync(hostPath(this.root, p))));
      } catch {
        // A parent that vanished meanwhile has nothing to refresh; the next walk sees it gone.
      }
    }
    for (const [k, m] of fresh) this.index.set(k, m);
    const layer = await writePlanLayer(this.root, plan, outDir, this.write);
    await settleClock(newestTime(fresh.values()));
    return layer;
  }

  // Untouched files never reach the plan (diffIndexes), so an emptied inode here is a new name
  // linked to one: its bytes are not in this rootfs.
  private checkSkeleton(plan: LayerPlan, after: TreeIndex): void {
    for (const p of plan.entries) {
      const m = after.get(p);
      if (m && m.type === T_FILE && m.nlink > 1 && m.size === 0 && this.skeleton!.has(m.ino)) {
        throw new KilnError(`internal: "/${p}" is a hard link to a file whose contents were not unpacked (build with --snapshot-mode overlay to avoid this)`);
      }
    }
  }

  async close(): Promise<void> {}

  addIgnored(paths: string[]): void {
    for (const p of ignoreSet(paths)) {
      this.ignore.add(p);
      // Forget what was indexed there, or the next walk would report it as deleted.
      for (const k of this.index.keys()) if (k === p || k.startsWith(p + "/")) this.index.delete(k);
    }
  }

  /** For the overlay strategy's fallback and tests. */
  planAgainst(after: TreeIndex): LayerPlan {
    return diffIndexes(this.index, after);
  }
}

// Chooses overlay or walk at init(). "auto" falls back to the walk with one notice saying why;
// an explicit "overlay" that cannot work is an error naming the flag.
class LazyOverlay implements Snapshotter {
  private impl: Snapshotter | null = null;
  constructor(private opts: SnapshotterOptions) {}

  get strategy(): "walk" | "overlay" {
    return this.impl?.strategy ?? (this.opts.strategy === "overlay" ? "overlay" : "walk");
  }

  async init(): Promise<void> {
    const { overlayUnavailable } = await import("./overlay-probe.ts");
    const root = fs.realpathSync(this.opts.rootfs);
    const state = this.opts.stateDir;
    let reason = state ? overlayUnavailable(root, state) : "no state directory for the upper layer";
    if (reason === null) {
      const { OverlaySnapshotter } = await import("./overlay.ts");
      const ov = new OverlaySnapshotter(this.opts);
      try {
        await ov.init();
        this.impl = ov;
        return;
      } catch (e) {
        reason = (e as Error).message;
      }
    }
    if (this.opts.strategy === "overlay") throw new KilnError(`--snapshot-mode overlay: overlay snapshots cannot be used here: ${reason}`);
    (this.opts.onNotice ?? ((m: string) => console.error(`kiln: ${m}`)))(`snapshots: walking the rootfs (overlay unavailable: ${reason})`);
    this.impl = new WalkSnapshotter(this.opts);
    await this.impl.init();
  }

  private get s(): Snapshotter {
    if (!this.impl) throw new KilnError("snapshotter used before init()");
    return this.impl;
  }
  snapshot(outDir: string) {
    return this.s.snapshot(outDir);
  }
  snapshotPaths(paths: string[], outDir: string) {
    return this.s.snapshotPaths(paths, outDir);
  }
  addIgnored(paths: string[]): void {
    this.s.addIgnored(paths);
  }

  async close(): Promise<void> {
    await this.impl?.close();
  }
}
