// The logger's output as CI logs see it: RUN output prefixed per line however it is chunked,
// --log-timestamp, --log-format color and json.
import { describe, expect, test } from "bun:test";
import { Logger } from "../../src/util/log.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function capture(format: "text" | "json" = "text", style = {}) {
  const lines: string[] = [];
  return { lines, log: new Logger("info", format, (l) => lines.push(l), undefined, style) };
}

describe("RUN output", () => {
  const chunkings: [string, string[]][] = [
    ["whole lines", ["one\ntwo\n"]],
    ["split mid-line", ["on", "e\ntw", "o\n"]],
    ["one byte at a time", [..."one\ntwo\n"]],
    ["last line without newline (flushed at the end)", ["one\ntw", "o"]],
  ];
  test.each(chunkings)("a line is never split across prefixes: %s", (_name, chunks) => {
    const { lines, log } = capture();
    for (const c of chunks) log.output("[1/2 RUN]", enc(c));
    log.flush();
    expect(lines).toEqual(["[1/2 RUN] one", "[1/2 RUN] two"]);
  });

  test("a log event writes the unfinished line first", () => {
    const { lines, log } = capture();
    log.output("[s]", enc("partial"));
    log.info("next step");
    expect(lines).toEqual(["[s] partial", "next step"]);
  });

  test("steps keep their own unfinished lines", () => {
    const { lines, log } = capture();
    log.output("[a]", enc("a1 "));
    log.output("[b]", enc("b1\n"));
    log.output("[a]", enc("a2\n"));
    expect(lines).toEqual(["[b] b1", "[a] a1 a2"]);
  });

  test("secrets are masked in a line that arrived in pieces", () => {
    const { lines, log } = capture();
    const secret = log.withSecrets(["hunter22"]);
    secret.output("[s]", enc("pass=hun"));
    secret.output("[s]", enc("ter22"));
    log.flush(); // the outer logger flushes, the masking of the one that buffered applies
    expect(lines).toEqual(["[s] pass=***"]);
  });

  test("json: one event per line", () => {
    const { lines, log } = capture("json");
    log.output("[s]", enc("a\nb"));
    log.flush();
    expect(lines.map((l) => JSON.parse(l).data)).toEqual(["a", "b"]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", event: "output", step: "[s]" });
  });
});

describe("style", () => {
  test("--log-timestamp prefixes every line, output too", () => {
    const { lines, log } = capture("text", { timestamps: true });
    log.info("hello");
    log.output("[s]", enc("x\n"));
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(lines[0]).toEndWith(" hello");
    expect(lines[1]).toEndWith(" [s] x");
  });

  test("colour only when asked (the CLI asks only on a terminal)", () => {
    const plain = capture("text");
    plain.log.warn("careful");
    expect(plain.lines).toEqual(["WARN careful"]);
    const color = capture("text", { color: true });
    color.log.warn("careful");
    color.log.info("plain");
    expect(color.lines).toEqual(["\x1b[33mWARN \x1b[0mcareful", "plain"]);
  });
});

test("a UTF-8 character split across chunks", () => {
  const { lines, log } = capture();
  const bytes = enc("grüße\n");
  for (const b of bytes) log.output("[s]", new Uint8Array([b]));
  expect(lines).toEqual(["[s] grüße"]);
});
