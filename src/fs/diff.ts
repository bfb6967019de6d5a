// Turning two indexes of the same rootfs into the contents of a layer: which paths to write,
// which to white out, and which directories were deleted and re-created (opaque whiteout).
import { sameMeta, T_DIR, type TreeIndex } from "./tree-index.ts";
import { splitParent } from "./resolve.ts";

export interface LayerPlan {
  /** Paths to write with their current state, including the parent directories of every change. */
  entries: Set<string>;
  /** Deleted paths; a deleted directory appears once, not with its contents. */
  whiteouts: Set<string>;
  /** Directories deleted and re-created: lower layers' contents must be hidden. */
  opaque: Set<string>;
}

export function emptyPlan(): LayerPlan {
  return { entries: new Set(), whiteouts: new Set(), opaque: new Set() };
}

export function planIsEmpty(p: LayerPlan): boolean {
  return p.entries.size === 0 && p.whiteouts.size === 0 && p.opaque.size === 0;
}

function underAny(p: string, dirs: Set<string>): boolean {
  if (dirs.size === 0) return false;
  for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) {
    if (dirs.has(p.slice(0, i))) return true;
  }
  return false;
}

/**
 * Compare `before` and `after`. With `all`, every directory in `after` counts as changed (used when
 * the caller knows exactly what it wrote and the indexes cover only those subtrees); files count
 * unless they are the very same untouched inode (COPY into an existing directory writes new
 * files and leaves the others alone).
 */
export function diffIndexes(before: TreeIndex, after: TreeIndex, plan = emptyPlan(), all = false): LayerPlan {
  const changed = plan.entries;
  for (const [p, n] of after) {
    const o = before.get(p);
    if (!o || !sameMeta(o, n) || (all && n.type === T_DIR)) {
      changed.add(p);
      // A directory with a new inode was deleted and re-created: hide what lower layers had.
      if (o && o.type === T_DIR && n.type === T_DIR && o.ino !== n.ino) plan.opaque.add(p);
    }
  }
  if (plan.opaque.size) for (const p of after.keys()) if (underAny(p, plan.opaque)) changed.add(p);
  for (const [p, o] of before) {
    if (after.has(p)) continue;
    const [parent] = splitParent(p);
    if (parent !== "") {
      // Only when the parent survives as the same directory; otherwise the parent's own
      // whiteout, replacement entry or opaque marker already removes this path.
      const np = after.get(parent);
      const op = before.get(parent);
      if (!np || np.type !== T_DIR || !op || op.type !== T_DIR) continue;
    }
    if (plan.opaque.has(parent) || underAny(p, plan.opaque)) continue;
    void o;
    plan.whiteouts.add(p);
  }
  addParents(plan);
  return plan;
}

/** Add the ancestors of every entry and whiteout, so their modes and owners travel with the layer. */
export function addParents(plan: LayerPlan): void {
  const add = (p: string) => {
    for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) {
      const a = p.slice(0, i);
      if (plan.entries.has(a)) break;
      plan.entries.add(a);
    }
  };
  for (const p of [...plan.entries]) add(p);
  for (const p of plan.whiteouts) add(p);
  for (const p of plan.opaque) add(p + "/x");
}
