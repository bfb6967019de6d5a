// Overlay snapshotter: the rootfs directory is covered by an overlay mount whose lower layer is
// the rootfs itself (lowerdir=R, mounted on R), so the merged view stays at the same path and the
// runner's chroot needs no change. After a step the upper dir holds exactly what changed; it is
// written as a layer, then merged into R by applying that layer, and a fresh upper is mounted.
// The runner must keep its own mounts (/proc, /dev, binds) in its own mount namespace, or unmount
// them before snapshot(): an overlay with submounts cannot be unmounted.
import fs from "node:fs";
import os from "node:os";
import { libcAvailable, lgetxattr, mount, umount2 } from "../runtime/libc.ts";
import { KilnError } from "../util/errors.ts";
import { addParents, emptyPlan, planIsEmpty, type LayerPlan } from "./diff.ts";
import type { WrittenLayer } from "./layer-writer.ts";
import { writePlanLayer, type PlanWriteOptions } from "./plan-writer.ts";
import type { Snapshotter, SnapshotterOptions } from "./snapshot.ts";
import { ignoreSet, T_CHAR, T_DIR, walkTree, hostPath } from "./tree-index.ts";
import { applyLayer } from "./unpack.ts";

export class OverlaySnapshotter implements Snapshotter {
  readonly strategy = "overlay" as const;
  private root: string;
  private state: string;
  private ignore: Set<string>;
  private write: PlanWriteOptions;
  private mounted = false;
  private gen = 0;

  constructor(opts: SnapshotterOptions) {
    this.root = fs.realpathSync(opts.rootfs);
    fs.mkdirSync(opts.stateDir ?? os.tmpdir(), { recursive: true });
    this.state = fs.mkdtempSync(`${opts.stateDir ?? os.tmpdir()}/kiln-overlay-`);
    this.ignore = ignoreSet(opts.ignore);
    this.write = { compression: opts.compression, level: opts.level, reproducible: opts.reproducible };
  }

  private get upper(): string {
    return `${this.state}/upper${this.gen}`;
  }

  async init(): Promise<void> {
    if (!libcAvailable()) throw new KilnError("mount(2) needs FFI (Bun, or Deno with --allow-ffi)");
    if (/[,:\\]/.test(this.root + this.state)) throw new KilnError(`paths with ",", ":" or "\\" cannot be overlay options`);
    try {
      this.mountFresh();
    } catch (e) {
      fs.rmSync(this.state, { recursive: true, force: true });
      throw new KilnError(`mount overlay on ${this.root}: ${(e as Error).message}`);
    }
  }

  private mountFresh(): void {
    this.gen++;
    const work = `${this.state}/work${this.gen}`;
    fs.mkdirSync(this.upper);
    fs.mkdirSync(work);
    // redirect_dir/metacopy off: a renamed directory or chmod-ed file is copied up whole, so the
    // upper dir alone describes the change (no references into the lower layer).
    mount("overlay", this.root, "overlay", 0, `lowerdir=${this.root},upperdir=${this.upper},workdir=${work},redirect_dir=off,metacopy=off,index=off`);
    this.mounted = true;
  }

  private unmount(): void {
    if (!this.mounted) return;
    try {
      umount2(this.root, 0);
    } catch (e) {
      throw new KilnError(`unmount overlay at ${this.root}: ${(e as Error).message} (are mounts from the last step still inside it?)`);
    }
    this.mounted = false;
  }

  private async planUpper(): Promise<LayerPlan> {
    const idx = await walkTree(this.upper, this.ignore);
    const plan = emptyPlan();
    for (const [p, m] of idx) {
      if (m.type === T_CHAR && m.size === 0 && isWhiteoutDevice(hostPath(this.upper, p))) {
        plan.whiteouts.add(p);
        continue;
      }
      plan.entries.add(p);
      if (m.type === T_DIR) {
        const v = lgetxattr(hostPath(this.upper, p), "trusted.overlay.opaque");
        if (v && v.length === 1 && v[0] === 0x79 /* y */) plan.opaque.add(p);
      }
    }
    addParents(plan);
    return plan;
  }

  // Unmount, turn the upper dir into a layer, merge it into the rootfs, remount a fresh upper.
  private async cycle(outDir: string, remount: boolean, always: boolean): Promise<WrittenLayer | null> {
    this.unmount();
    const plan = await this.planUpper();
    let layer: WrittenLayer | null = null;
    if (!planIsEmpty(plan) || always) {
      layer = await writePlanLayer(this.upper, plan, outDir, this.write);
      if (!planIsEmpty(plan)) {
        await applyLayer(this.root, fs.createReadStream(layer.path, { highWaterMark: 1 << 20 }), { mediaType: layer.mediaType, source: layer.digest });
      }
    }
    fs.rmSync(this.upper, { recursive: true, force: true });
    fs.rmSync(`${this.state}/work${this.gen}`, { recursive: true, force: true });
    if (remount) this.mountFresh();
    return layer;
  }

  snapshot(outDir: string): Promise<WrittenLayer | null> {
    return this.cycle(outDir, true, false);
  }

  /**
   * The upper dir already holds exactly what changed since the last snapshot, so this is a
   * snapshot of everything changed since then (expected to be `paths` when the caller only
   * copied them); it always returns a layer, possibly empty.
   */
  async snapshotPaths(_paths: string[], outDir: string): Promise<WrittenLayer> {
    return (await this.cycle(outDir, true, true))!;
  }

  /** Unmount, keeping pending changes in the rootfs (merged without writing a kept layer). */
  addIgnored(paths: string[]): void {
    for (const p of ignoreSet(paths)) this.ignore.add(p);
  }

  async close(): Promise<void> {
    if (!this.mounted) return;
    const scratch = `${this.state}/close`;
    await this.cycle(scratch, false, false);
    fs.rmSync(this.state, { recursive: true, force: true });
  }
}

function isWhiteoutDevice(host: string): boolean {
  return fs.lstatSync(host).rdev === 0;
}
