// The end-of-RUN marker on the helper's output streams: every byte before it is passed on, in
// order, whatever the chunking; a partial marker at a chunk's end is held, a false start released.
import { describe, expect, test } from "bun:test";
import { SentinelSplitter } from "../../src/run/output-sentinel.ts";

const SENTINEL = "\0kiln-run-end-0123456789abcdef\0";
const enc = (s: string) => new TextEncoder().encode(s);

function feed(chunks: string[]): { out: string; done: boolean[] } {
  let out = "";
  const s = new SentinelSplitter(SENTINEL, (c) => (out += new TextDecoder().decode(c)));
  const done = chunks.map((c) => s.push(enc(c)));
  return { out, done };
}

describe("SentinelSplitter", () => {
  test("the output before the sentinel, split at every possible byte", () => {
    const whole = `hello\nworld${SENTINEL}`;
    for (let i = 0; i <= whole.length; i++) {
      for (let j = i; j <= whole.length; j++) {
        const r = feed([whole.slice(0, i), whole.slice(i, j), whole.slice(j)]);
        expect(r.out).toBe("hello\nworld");
        expect(r.done.at(-1)).toBe(true);
      }
    }
  });

  test("a tail that looks like the sentinel's start is held back, then released when it is not", () => {
    let out = "";
    const s = new SentinelSplitter(SENTINEL, (c) => (out += new TextDecoder().decode(c)));
    expect(s.push(enc("abc\0kiln-run"))).toBe(false);
    expect(out).toBe("abc");
    expect(s.push(enc("-x"))).toBe(false);
    expect(out).toBe("abc\0kiln-run-x");
    expect(s.done).toBe(false);
  });

  test("nothing after the sentinel is passed on", () => {
    const r = feed([`a${SENTINEL}late`, "later"]);
    expect(r.out).toBe("a");
    expect(r.done).toEqual([true, true]);
  });

  test("another RUN's sentinel is just output", () => {
    const other = SENTINEL.replace("0123", "ffff");
    const r = feed([`x${other}y`, SENTINEL]);
    expect(r.out).toBe(`x${other}y`);
  });
});
