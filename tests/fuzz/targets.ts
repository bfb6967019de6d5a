// The fuzz targets and their driver. A target feeds one mutated input to kiln's code and says which
// errors are the designed ones (a KilnError, the tar reader's TarFormatError, the lexer's
// LexError); anything else thrown is a crash. The driver also flags a case that takes longer than
// a hang bound (far above any real case) or grows the heap by more than an allocation bound (far
// above the input's size): both mean unbounded work from a small input.
import { dumpDockerfile, LexError, parseDockerfile, planBuild, ShellLex, StageScope } from "../../src/dockerfile/index.ts";
import { TarFormatError } from "../../src/tar/errors.ts";
import { readTar } from "../../src/tar/reader.ts";
import { BLOCK } from "../../src/tar/header.ts";
import { KilnError } from "../../src/util/errors.ts";
import { fixChecksums, mutate, mutateText, Rng, TAR_MUTATIONS } from "./mutate.ts";

export interface Target<T> {
  name: string;
  /** A mutated input made from a seed (and a second seed to splice from). */
  mutate(rng: Rng, seed: T, other: T): T;
  /** Run kiln's code on it; throws on a designed error or a crash. */
  run(input: T, rng: Rng): Promise<void> | void;
  /** Whether an error is one the code is designed to throw for bad input. */
  expected(e: unknown): boolean;
  /** The input as bytes, to save a finding. */
  bytes(input: T): Uint8Array;
}

/** An invariant of the target broke: always a finding. */
class Invariant extends Error {}

export const tarTarget: Target<Uint8Array> = {
  name: "tar",
  mutate: (rng, seed, other) => {
    const out = mutate(rng, seed, other, TAR_MUTATIONS);
    return rng.chance(0.8) ? fixChecksums(out === seed ? out.slice() : out) : out;
  },
  async run(input, rng) {
    // Random chunking: header blocks and bodies straddle chunk boundaries.
    const chunks = async function* () {
      for (let off = 0; off < input.length;) {
        const n = rng.chance(0.3) ? input.length : 1 + rng.below(rng.chance(0.5) ? 700 : 8192);
        yield input.subarray(off, off + n);
        off += n;
      }
    };
    let entries = 0;
    let body = 0;
    for await (const e of readTar(chunks(), { trailing: rng.chance(0.2) ? "error" : "drain" })) {
      // Every entry consumes at least one header block; bodies come from the input.
      if (++entries > input.length / BLOCK + 1) throw new Invariant(`tar: ${entries} entries from ${input.length} bytes`);
      if (typeof e.header.name !== "string" || !Number.isSafeInteger(e.header.size) || e.header.size < 0) throw new Invariant(`tar: bad header ${JSON.stringify(e.header)}`);
      if (rng.chance(0.7)) for await (const c of e.body) body += c.length;
      if (body > input.length) throw new Invariant(`tar: ${body} body bytes from ${input.length} bytes`);
    }
  },
  expected: (e) => (e instanceof TarFormatError || e instanceof KilnError) && !(e instanceof Invariant),
  bytes: (b) => b,
};

export const dockerfileTarget: Target<string> = {
  name: "dockerfile",
  mutate: (rng, seed, other) => mutateText(rng, seed, other),
  run(text) {
    const ast = parseDockerfile(text);
    dumpDockerfile(ast);
    const plan = planBuild(ast, { buildArgs: { A: "1", BASE: "busybox:latest" } });
    // Every instruction of the stages to build, expanded as the executor does before running it.
    const scopes = new Map<number, StageScope>();
    for (const i of plan.order) {
      const stage = plan.stages[i]!;
      const base = stage.baseStage === undefined ? undefined : scopes.get(stage.baseStage);
      const scope = new StageScope(plan, i, base ? base.clone() : ["PATH=/bin", "HOME=/root"]);
      for (const ins of stage.instructions) scope.expand(ins);
      scopes.set(i, scope);
    }
  },
  expected: (e) => e instanceof KilnError,
  bytes: (s) => new TextEncoder().encode(s),
};

const ENV = new Map([["A", "a/b.c"], ["B", ""], ["PWD", "/home"], ["KOREAN", "한국어"]]);
const LEX_OPTIONS = [{}, { rawQuotes: true }, { rawEscapes: true }, { skipUnsetEnv: true }, { skipProcessQuotes: true }, { rawQuotes: true, skipUnsetEnv: true }];

export const lexerTarget: Target<string> = {
  name: "lexer",
  mutate: (rng, seed, other) => mutateText(rng, seed, other),
  run(word, rng) {
    const lex = new ShellLex(rng.chance(0.8) ? "\\" : "`", rng.pick(LEX_OPTIONS));
    const r = lex.process(word, ENV);
    if (typeof r.result !== "string" || !r.words.every((w) => typeof w === "string")) throw new Invariant("lexer: non-string result");
  },
  expected: (e) => (e instanceof LexError || e instanceof KilnError) && !(e instanceof Invariant),
  bytes: (s) => new TextEncoder().encode(s),
};

export interface Finding {
  target: string;
  iteration: number;
  kind: "crash" | "hang" | "allocation";
  message: string;
  input: Uint8Array;
}

export interface FuzzOptions {
  seed: number;
  /** The first case number (default 0): with the seed, it replays a case exactly. */
  from?: number;
  /** Stop after this many cases… */
  iterations: number;
  /** …or after this long, whichever comes first (default: no time limit). */
  timeMs?: number;
  /** A case running longer than this is a hang (default 10 s: real cases take well under 10 ms). */
  hangMs?: number;
  /** Heap growth in one case above this is unbounded allocation (default 256 MiB; inputs are < 1 MiB). */
  maxGrowth?: number;
  /** Stop at the first finding (default true). */
  stopEarly?: boolean;
}

/** The same case for the same (seed, iteration) on every run and runtime. */
function caseRng(seed: number, i: number): Rng {
  return new Rng(Math.imul(seed ^ Math.imul(i + 1, 0x9e3779b1), 0x85ebca6b) ^ i);
}

// Bun counts typed-array memory in neither heapUsed nor arrayBuffers, only in rss: take the
// larger growth of the two.
const memory = () => {
  const m = process.memoryUsage();
  return { heap: m.heapUsed + (m.arrayBuffers ?? 0), rss: m.rss };
};

/** Run `target` on mutations of `seeds`; returns the findings and how many cases ran. */
export async function fuzz<T>(target: Target<T>, seeds: readonly T[], opts: FuzzOptions): Promise<{ findings: Finding[]; cases: number }> {
  if (seeds.length === 0) throw new Error(`fuzz ${target.name}: no seeds`);
  const findings: Finding[] = [];
  const hangMs = opts.hangMs ?? 10_000;
  const maxGrowth = opts.maxGrowth ?? 256 * 2 ** 20;
  const t0 = Date.now();
  const from = opts.from ?? 0;
  const end = from + Math.min(opts.iterations, Number.MAX_SAFE_INTEGER - from);
  let i = from;
  for (; i < end; i++) {
    if (opts.timeMs !== undefined && Date.now() - t0 > opts.timeMs) break;
    const rng = caseRng(opts.seed, i);
    // Every seed as it is first, then mutations.
    const input = i < seeds.length ? seeds[i]! : target.mutate(rng, rng.pick(seeds), rng.pick(seeds));
    const note = (kind: Finding["kind"], message: string) => findings.push({ target: target.name, iteration: i, kind, message, input: target.bytes(input) });
    const m0 = memory();
    const c0 = Date.now();
    try {
      await target.run(input, rng);
    } catch (e) {
      if (!target.expected(e)) note("crash", `${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}\n${(e as Error)?.stack ?? ""}`);
    }
    const took = Date.now() - c0;
    if (took > hangMs) note("hang", `took ${took} ms (bound ${hangMs} ms)`);
    const m1 = memory();
    const grew = Math.max(m1.heap - m0.heap, m1.rss - m0.rss);
    if (grew > maxGrowth) note("allocation", `memory grew by ${grew} bytes (bound ${maxGrowth})`);
    if (findings.length && opts.stopEarly !== false) return { findings, cases: i + 1 - from };
  }
  return { findings, cases: i - from };
}
