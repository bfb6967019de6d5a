// Property test: random filesystem operations on a live tree; the snapshot layer applied onto a
// copy of the "before" tree must reproduce the live tree exactly, round after round.
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import { createSnapshotter } from "../../src/fs/snapshot.ts";
import { applyLayer } from "../../src/fs/unpack.ts";
import { lsetxattr } from "../../src/runtime/libc.ts";
import { captureTree, diffTrees } from "./tree.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-roundtrip-`);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function listAll(root: string, rel = ""): { files: string[]; dirs: string[]; all: string[] } {
  const out = { files: [] as string[], dirs: [] as string[], all: [] as string[] };
  const visit = (r: string) => {
    for (const n of fs.readdirSync(r === "" ? root : `${root}/${r}`).sort()) {
      const p = r === "" ? n : `${r}/${n}`;
      const st = fs.lstatSync(`${root}/${p}`);
      out.all.push(p);
      if (st.isDirectory()) {
        out.dirs.push(p);
        visit(p);
      } else if (st.isFile()) out.files.push(p);
    }
  };
  visit(rel);
  return out;
}

class Ops {
  private n = 0;
  constructor(private root: string, private rnd: () => number, readonly log: string[] = []) {}
  private pick<T>(xs: T[]): T | undefined {
    return xs.length ? xs[Math.floor(this.rnd() * xs.length)] : undefined;
  }
  private name(): string {
    return `n${this.n++}`;
  }
  private bytes(len: number): Buffer {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(this.rnd() * 256);
    return b;
  }
  private dirOrRoot(t: ReturnType<typeof listAll>): string {
    return this.rnd() < 0.25 ? "" : this.pick(t.dirs) ?? "";
  }
  private p(rel: string): string {
    return `${this.root}/${rel}`;
  }
  private join(d: string, n: string): string {
    return d === "" ? n : `${d}/${n}`;
  }

  populate(count: number): void {
    for (let i = 0; i < count; i++) {
      const t = listAll(this.root);
      const d = this.dirOrRoot(t);
      if (this.rnd() < 0.3) fs.mkdirSync(this.p(this.join(d, this.name())));
      else fs.writeFileSync(this.p(this.join(d, this.name())), this.bytes(Math.floor(this.rnd() * 3000)));
    }
  }

  random(): void {
    const t = listAll(this.root);
    const f = this.pick(t.files);
    const d = this.pick(t.dirs);
    const any = this.pick(t.all);
    const ops: [string, () => void][] = [
      ["create", () => fs.writeFileSync(this.p(this.join(this.dirOrRoot(t), this.name())), this.bytes(Math.floor(this.rnd() * 5000)))],
      ["mkdir", () => fs.mkdirSync(this.p(this.join(this.dirOrRoot(t), this.name())))],
      ["same-size rewrite", () => f && fs.writeFileSync(this.p(f), this.bytes(fs.statSync(this.p(f)).size))],
      ["rewrite, mtime restored", () => {
        if (!f) return;
        const st = fs.statSync(this.p(f));
        fs.writeFileSync(this.p(f), this.bytes(st.size));
        fs.utimesSync(this.p(f), st.atime, st.mtime);
      }],
      ["append", () => f && fs.appendFileSync(this.p(f), this.bytes(10))],
      ["chmod", () => any && !fs.lstatSync(this.p(any)).isSymbolicLink() && fs.chmodSync(this.p(any), this.pick([0o4755, 0o2750, 0o1777, 0o600, 0o755, 0o644])!)],
      ["chown", () => any && fs.lchownSync(this.p(any), this.pick([0, 1, 1000, 65534])!, this.pick([0, 2, 1000])!)],
      ["delete file", () => f && fs.unlinkSync(this.p(f))],
      ["delete dir", () => d && fs.rmSync(this.p(d), { recursive: true })],
      ["rename", () => {
        if (!any) return;
        const to = this.join(this.dirOrRoot(t), this.name());
        if (to.startsWith(any + "/")) return;
        // GNU mv, as a RUN step would: on overlay without redirect_dir a directory rename is
        // EXDEV and mv falls back to copy + delete.
        const r = spawnSync("mv", [this.p(any), this.p(to)], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`mv: ${r.stderr}`);
      }],
      ["dir -> file", () => {
        if (!d) return;
        fs.rmSync(this.p(d), { recursive: true });
        fs.writeFileSync(this.p(d), "was a dir");
      }],
      ["file -> dir", () => {
        if (!f) return;
        fs.unlinkSync(this.p(f));
        fs.mkdirSync(this.p(f));
        fs.writeFileSync(this.p(`${f}/child`), "was a file");
      }],
      ["dir deleted and re-created", () => {
        if (!d) return;
        fs.rmSync(this.p(d), { recursive: true });
        fs.mkdirSync(this.p(d));
        fs.writeFileSync(this.p(`${d}/${this.name()}`), "new");
      }],
      ["hardlink", () => f && fs.linkSync(this.p(f), this.p(this.join(this.dirOrRoot(t), this.name())))],
      ["symlink", () => fs.symlinkSync(this.pick([any ?? "x", `/${any ?? "y"}`, "../nowhere", "/dangling/abs"])!, this.p(this.join(this.dirOrRoot(t), this.name())))],
      ["fifo", () => spawnSync("mkfifo", [this.p(this.join(this.dirOrRoot(t), this.name()))])],
      ["xattr", () => f && lsetxattr(this.p(f), "user.kiln", this.bytes(8))],
      ["capability", () => f && lsetxattr(this.p(f), "security.capability", Buffer.from("0100000200200000000000000000000000000000", "hex"))],
    ];
    const [name, op] = this.pick(ops)!;
    this.log.push(`${name} ${any ?? ""}`);
    op();
  }
}

function copyTree(from: string, to: string): void {
  const r = spawnSync("cp", ["-a", from, to]);
  if (r.status !== 0) throw new Error(`cp -a failed: ${r.stderr}`);
}

async function roundTrip(seed: number, strategy: "walk" | "overlay", rounds = 3, opsPerRound = 25): Promise<void> {
  const base = `${work}/${strategy}-${seed}`;
  const live = `${base}/live`;
  const replica = `${base}/replica`;
  fs.mkdirSync(live, { recursive: true });
  const ops = new Ops(live, prng(seed));
  ops.populate(40);
  copyTree(live, replica);
  const notices: string[] = [];
  const snap = createSnapshotter({ rootfs: live, strategy, ignore: [], compression: "gzip", stateDir: `${base}/state`, onNotice: (m) => notices.push(m) });
  await snap.init();
  expect(snap.strategy).toBe(strategy);
  try {
    for (let round = 0; round < rounds; round++) {
      const from = ops.log.length;
      for (let i = 0; i < opsPerRound; i++) ops.random();
      const layer = await snap.snapshot(`${base}/layers`);
      if (layer) {
        await applyLayer(replica, fs.createReadStream(layer.path), { mediaType: layer.mediaType, source: layer.digest });
      }
      const d = diffTrees(captureTree(live, { mtimes: true }), captureTree(replica, { mtimes: true }));
      if (d.length) throw new Error(`seed ${seed} round ${round}: trees differ after ops:\n  ${ops.log.slice(from).join("\n  ")}\n${d.join("\n")}`);
      expect(await snap.snapshot(`${base}/layers`)).toBeNull();
    }
  } finally {
    await snap.close();
  }
  expect(notices).toEqual([]);
}

describe("walk snapshots round-trip", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) test(`seed ${seed}`, () => roundTrip(seed, "walk"));
});

describe("overlay snapshots round-trip", () => {
  for (const seed of [11, 12, 13]) test(`seed ${seed}`, () => roundTrip(seed, "overlay"));
});
