// Overlay snapshotter: the rootfs directory is covered by an overlay mount whose lower layer is
// the rootfs itself (lowerdir=R, mounted on R), so the merged view stays at the same path and the
// runner's chroot needs no change. After a step the overlay is unmounted and its upper dir says
// what changed: the plan is what the walk snapshotter would have found (same rules, applied only
// to the paths in the upper dir, against the untouched lower), the upper dir is moved into R
// (overlay-merge.ts), and the layer is written from R by the walk's own writer. So the cost is
// O(changes) and the layer is the walk's, byte for byte (tests/fs/snapshot-modes.test.ts).
// The runner keeps its own mounts (/proc, /dev, binds) in its own mount namespace: an overlay with
// submounts could not be unmounted.
import fs from "node:fs";
import { MNT_DETACH, mount, umount2 } from "../runtime/libc.ts";
import { onCleanup } from "../util/cleanup.ts";
import { KilnError } from "../util/errors.ts";
import { addParents, emptyPlan, planIsEmpty, type LayerPlan } from "./diff.ts";
import type { WrittenLayer } from "./layer-writer.ts";
import { isCopyUp, isOpaque, isWhiteout, mergeUpper, type Relink } from "./overlay-merge.ts";
import { overlayOptions } from "./overlay-probe.ts";
import { writePlanLayer, type PlanWriteOptions } from "./plan-writer.ts";
import { cleanArchivePath, RootResolver } from "./resolve.ts";
import type { Snapshotter, SnapshotterOptions } from "./snapshot.ts";
import { hostPath, ignoreSet, metaOf, T_CHAR, T_DIR, walkTree, type Meta } from "./tree-index.ts";

export class OverlaySnapshotter implements Snapshotter {
  readonly strategy = "overlay" as const;
  private root: string;
  private state: string;
  private ignore: Set<string>;
  private write: PlanWriteOptions;
  private mounted = false;
  private release?: () => void;
  private gen = 0;
  /** Lower inode → its names, for files with more than one (read lazily; dropped when links change). */
  private links: Map<number, string[]> | null = null;
  private options: string;
  /** Old upper and work dirs being removed in the background (off the step's critical path). */
  private trash: Promise<void>[] = [];

  constructor(opts: SnapshotterOptions) {
    this.root = fs.realpathSync(opts.rootfs);
    if (!opts.stateDir) throw new KilnError("internal: the overlay snapshotter needs a state dir on the rootfs's filesystem");
    fs.mkdirSync(opts.stateDir, { recursive: true });
    this.state = fs.mkdtempSync(`${fs.realpathSync(opts.stateDir)}/kiln-overlay-`);
    this.ignore = ignoreSet(opts.ignore);
    this.write = { compression: opts.compression, level: opts.level, reproducible: opts.reproducible };
    this.options = overlayOptions(this.state);
  }

  private get upper(): string {
    return `${this.state}/upper${this.gen}`;
  }
  private get work(): string {
    return `${this.state}/work${this.gen}`;
  }

  async init(): Promise<void> {
    try {
      this.mountFresh();
    } catch (e) {
      fs.rmSync(this.state, { recursive: true, force: true });
      throw new KilnError(`mount overlay on ${this.root}: ${(e as Error).message}`);
    }
  }

  private mountFresh(): void {
    this.gen++;
    fs.mkdirSync(this.upper);
    fs.mkdirSync(this.work);
    // The upper root's owner and mode are the merged root's: they must be the rootfs's.
    const st = fs.lstatSync(this.root);
    fs.lchownSync(this.upper, st.uid, st.gid);
    fs.chmodSync(this.upper, st.mode & 0o7777);
    mount("overlay", this.root, "overlay", 0, `lowerdir=${this.root},upperdir=${this.upper},workdir=${this.work},${this.options}`);
    this.mounted = true;
    // Ctrl-C or a crash mid-step: detach it, so no mount outlives the build.
    this.release = onCleanup(() => {
      if (!this.mounted) return;
      this.mounted = false;
      umount2(this.root, MNT_DETACH);
    });
  }

  private unmount(): void {
    if (!this.mounted) return;
    try {
      umount2(this.root, 0);
    } catch (e) {
      throw new KilnError(`unmount overlay at ${this.root}: ${(e as Error).message} (are mounts from the last step still inside it?)`);
    }
    this.mounted = false;
    this.release?.();
    this.release = undefined;
  }

  /**
   * The walk's plan, from the upper dir: what it holds, judged against the lower (the rootfs,
   * untouched while mounted) with the walk's rules. Returns the lower names that must follow a
   * copied-up hard link (they were the same inode, so the walk sees them change too).
   */
  private async planUpper(): Promise<{ plan: LayerPlan; relinks: Relink[] }> {
    const up = await walkTree(this.upper, this.ignore);
    const plan = emptyPlan();
    const fresh = new Set<string>(); // upper dirs hiding the lower (new, replaced or opaque)
    const gone = new Set<string>(); // lower paths no longer visible: whiteouts and replaced non-dirs
    const lostName = new Set<number>(); // lower inodes that lost a name: their other names changed
    const copied = new Map<number, string>(); // lower inode → a copy-up of it in the upper dir
    let linksChanged = false;
    for (const [p, n] of up) {
      const parent = p.lastIndexOf("/") < 0 ? "" : p.slice(0, p.lastIndexOf("/"));
      const hidden = parent !== "" && fresh.has(parent);
      const o = hidden ? null : lowerMeta(this.root, p);
      const u = hostPath(this.upper, p);
      if (n.type === T_CHAR && isWhiteout(fs.lstatSync(u))) {
        if (!o) continue;
        plan.whiteouts.add(p);
        gone.add(p);
        await this.lowerGone(p, o, lostName);
        continue;
      }
      plan.entries.add(p);
      if (n.type !== T_DIR && n.nlink > 1) linksChanged = true; // a new name for some file
      if (!o) {
        if (n.type !== T_DIR) continue;
        fresh.add(p);
        // The walk compares with the lower tree even below an opaque dir: a dir there that
        // replaces a lower dir is a new inode, so it is marked opaque too.
        if (hidden && lowerMeta(this.root, p)?.type === T_DIR) plan.opaque.add(p);
        continue;
      }
      if (o.type !== n.type) {
        if (n.type === T_DIR) fresh.add(p);
        else gone.add(p);
        await this.lowerGone(p, o, lostName);
        continue;
      }
      if (n.type === T_DIR) {
        if (isOpaque(u)) {
          plan.opaque.add(p);
          fresh.add(p);
          await this.lowerGone(p, o, lostName);
        } else if (o.mode === n.mode && o.uid === n.uid && o.gid === n.gid && o.mtimeMs === n.mtimeMs) {
          plan.entries.delete(p); // copied up for a child only: addParents puts it back if needed
        }
        continue;
      }
      if (o.nlink > 1) {
        if (isCopyUp(u)) {
          if (!copied.has(o.ino) || p < copied.get(o.ino)!) copied.set(o.ino, p);
        } else lostName.add(o.ino);
      }
    }
    const relinks: Relink[] = [];
    if (lostName.size > 0 || copied.size > 0) {
      linksChanged = true;
      const links = await this.lowerLinks();
      const visible = (a: string) => {
        if (up.has(a)) return false;
        for (let i = a.lastIndexOf("/"); i > 0; i = a.lastIndexOf("/", i - 1)) {
          const anc = a.slice(0, i);
          if (gone.has(anc) || fresh.has(anc)) return false;
        }
        return true;
      };
      for (const ino of new Set([...lostName, ...copied.keys()])) {
        for (const a of links.get(ino) ?? []) {
          if (!visible(a)) continue;
          plan.entries.add(a); // one inode with the changed name: its nlink or contents changed
          const to = copied.get(ino);
          if (to !== undefined) relinks.push({ alias: a, to });
        }
      }
    }
    if (linksChanged) this.links = null;
    addParents(plan);
    return { plan, relinks };
  }

  /** A lower path disappears (deleted, replaced, or hidden by an opaque dir): note its hard links. */
  private async lowerGone(p: string, o: Meta, lostName: Set<number>): Promise<void> {
    if (o.type !== T_DIR) {
      if (o.nlink > 1) lostName.add(o.ino);
      return;
    }
    for (const m of (await walkTree(this.root, this.ignore, p)).values()) {
      if (m.type !== T_DIR && m.nlink > 1) lostName.add(m.ino);
    }
  }

  /** Names of every multiply-linked lower file: one walk of the rootfs, only when a step touched one. */
  private async lowerLinks(): Promise<Map<number, string[]>> {
    if (this.links) return this.links;
    const links = new Map<number, string[]>();
    for (const [p, m] of await walkTree(this.root, this.ignore)) {
      if (m.type === T_DIR || m.nlink < 2) continue;
      const l = links.get(m.ino);
      if (l) l.push(p);
      else links.set(m.ino, [p]);
    }
    return (this.links = links);
  }

  // Unmount, plan from the upper dir, move it into the rootfs, write the layer, remount.
  private async cycle(outDir: string | null, remount: boolean, named?: string[]): Promise<WrittenLayer | null> {
    this.unmount();
    const { plan, relinks } = await this.planUpper();
    mergeUpper(this.upper, this.root, relinks);
    if (named) await this.addNamed(plan, named);
    const [upper, work] = [this.upper, this.work];
    if (remount) this.mountFresh();
    this.trash.push(fs.promises.rm(upper, { recursive: true, force: true }), fs.promises.rm(work, { recursive: true, force: true }));
    // The layer is written from the rootfs while the next step's overlay is already mounted over
    // it: nothing writes through that mount until this returns.
    let layer: WrittenLayer | null = null;
    if (outDir !== null && (!planIsEmpty(plan) || named)) layer = await writePlanLayer(this.root, plan, outDir, this.write);
    return layer;
  }

  /**
   * What the walk's snapshotPaths adds on top of the changes: each named path itself, and every
   * directory below a named directory (COPY rewrites their metadata, so they always count).
   */
  private async addNamed(plan: LayerPlan, paths: string[]): Promise<void> {
    const r = new RootResolver(this.root);
    for (const p of paths) {
      const lexical = cleanArchivePath(p);
      if (lexical === "") throw new KilnError(`snapshotPaths: "${p}" is the whole rootfs; use snapshot()`);
      const { real } = r.parent(lexical, false);
      if (this.ignore.has(real)) continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(hostPath(this.root, real));
      } catch {
        continue; // gone: the upper dir's whiteout already says so
      }
      plan.entries.add(real);
      if (!st.isDirectory()) continue;
      for (const [k, m] of await walkTree(this.root, this.ignore, real)) if (m.type === T_DIR) plan.entries.add(k);
    }
    addParents(plan);
  }

  snapshot(outDir: string): Promise<WrittenLayer | null> {
    return this.cycle(outDir, true);
  }

  /**
   * The upper dir holds exactly what changed since the last snapshot, which after a COPY is what
   * it wrote; the named paths are added as the walk adds them. Always returns a layer.
   */
  async snapshotPaths(paths: string[], outDir: string): Promise<WrittenLayer> {
    return (await this.cycle(outDir, true, paths))!;
  }

  addIgnored(paths: string[]): void {
    for (const p of ignoreSet(paths)) this.ignore.add(p);
    this.links = null;
  }

  /** Unmount, keeping pending changes in the rootfs (merged without writing a layer). */
  async close(): Promise<void> {
    if (this.mounted) await this.cycle(null, false);
    await Promise.allSettled(this.trash);
    this.trash = [];
    fs.rmSync(this.state, { recursive: true, force: true });
  }
}

function lowerMeta(root: string, rel: string): Meta | null {
  try {
    return metaOf(fs.lstatSync(hostPath(root, rel)));
  } catch {
    return null;
  }
}
