// Run by collect-garbage.test.ts on each runtime: prints whether an object dropped just before
// collectGarbage() is gone after it, and that one still referenced is not. Creating or reading a
// WeakRef keeps its target alive until the current job ends, so the drop and the look each
// happen in a later job.
import { collectGarbage } from "../../src/runtime/index.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));
const held = new Map<string, object>([["kept", { name: "kept" }], ["dropped", { name: "dropped" }]]);
const refs = { kept: new WeakRef(held.get("kept")!), dropped: new WeakRef(held.get("dropped")!) };
await tick();
held.delete("dropped");
collectGarbage();
await tick();
console.log(JSON.stringify({ kept: refs.kept.deref() !== undefined, dropped: refs.dropped.deref() !== undefined, held: held.size }));
