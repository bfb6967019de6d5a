// Resident run helpers, pooled for the life of the kiln process: a RUN takes an idle helper of the
// right kind (with or without namespaces, with or without the sync filter) or starts one; parallel
// stages and platforms get one each. Helpers die with kiln (PR_SET_PDEATHSIG, exit cleanup) and
// are killed when a build ends (closeRunHelpers).
import { libcAvailable } from "../runtime/libc.ts";
import { onCleanup } from "../util/cleanup.ts";
import { CAP_SYS_ADMIN, hasCapability } from "../util/capabilities.ts";
import type { HelperOptions } from "./protocol.ts";
import { ResidentHelper } from "./resident-helper.ts";

/** Idle (or still starting) helpers by kind; a failed prewarm start is null. */
const idle = new Map<string, Promise<ResidentHelper | null>[]>();
const all = new Set<ResidentHelper>();
let cleanupRegistered = false;
let starts = 0;

function keyOf(o: HelperOptions): string {
  return `${o.pidNamespace}:${o.suppressSync}`;
}

/** The helper kind a RUN with these settings needs. */
export function helperOptions(keepSync: boolean | undefined): HelperOptions {
  return { pidNamespace: hasCapability(CAP_SYS_ADMIN), suppressSync: keepSync !== true };
}

async function startHelper(o: HelperOptions): Promise<ResidentHelper> {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    onCleanup(() => {
      cleanupRegistered = false;
      closeRunHelpers();
    });
  }
  starts++;
  const h = await ResidentHelper.start(o);
  all.add(h);
  return h;
}

/** An idle helper of kind `o`, or a new one. The caller gives it back with releaseRunHelper. */
export async function acquireRunHelper(o: HelperOptions): Promise<ResidentHelper> {
  const list = idle.get(keyOf(o));
  while (list?.length) {
    const h = await list.shift()!;
    if (h?.alive) return h;
    if (h) all.delete(h);
  }
  return await startHelper(o);
}

/** Back to the pool; a helper that died (or was killed mid-RUN) is dropped. */
export function releaseRunHelper(h: ResidentHelper): void {
  if (!h.alive || h.busy) {
    if (h.busy) h.kill();
    all.delete(h);
    // The next RUN need not wait for its replacement to start.
    if (h.retired) startIdle(h.options);
    return;
  }
  const key = keyOf(h.options);
  const list = idle.get(key) ?? [];
  list.push(Promise.resolve(h));
  idle.set(key, list);
}

/** A helper of kind `o` starting in the background, into the idle list (unless one is there). */
function startIdle(o: HelperOptions): void {
  const key = keyOf(o);
  const list = idle.get(key) ?? [];
  if (list.length > 0) return;
  list.push(startHelper(o).catch(() => null));
  idle.set(key, list);
}

/** Start a helper now, in the background, so the first RUN does not wait for it (a failure shows at that RUN). */
export function prewarmRunHelper(keepSync?: boolean): void {
  if (libcAvailable()) startIdle(helperOptions(keepSync));
}

let holders = 0;

/**
 * A build holds the pool while it runs; when the last holder lets go, the idle helpers are killed
 * (a helper mid-RUN belongs to a build still running, which gives it back later).
 */
export function holdRunHelpers(): () => void {
  holders++;
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--holders === 0) closeIdleRunHelpers();
  };
}

function closeIdleRunHelpers(): void {
  for (const list of idle.values()) {
    for (const p of list) {
      void p.then((h) => {
        if (!h) return;
        h.kill();
        all.delete(h);
      });
    }
  }
  idle.clear();
}

/** Kill every helper (idle ones and any mid-RUN): the end of kiln. */
export function closeRunHelpers(): void {
  for (const list of idle.values()) for (const p of list) void p.then((h) => h?.kill());
  idle.clear();
  for (const h of all) h.kill();
  all.clear();
}

/** How many helpers this process has started (tests: RUNs reuse them). */
export function runHelperStarts(): number {
  return starts;
}

/** Pids of the helpers kiln has now (for tests that kill one). */
export function runHelperPids(): number[] {
  return [...all].map((h) => h.pid).filter((p): p is number => p !== undefined);
}
