// ADD <URL> is bounded by KILN_MAX_DOWNLOAD_SIZE, whatever the server says: a loopback server (raw
// TCP, so it can lie) generates its bytes as it sends them (nothing big is allocated), and counts
// what it got to send before kiln hung up. Through download() and through the CLI in every form.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { DEFAULT_MAX_DOWNLOAD, download, maxDownloadSize } from "../../src/executor/copy/remote.ts";
import { KilnError } from "../../src/util/errors.ts";
import { FORMS, kilnIn } from "./forms.ts";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-dl-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const MiB = 1 << 20;
const LIMIT = 8 * MiB;
// What the server would send in full: 8× the limit (well past it, still quick on loopback).
const BODY = 64 * MiB;

interface Route {
  /** The Content-Length header sent (undefined: none, the body ends when the connection closes). */
  announce?: number;
  /** Bytes actually sent. */
  send: number;
}
const routes: Record<string, Route> = {
  "/endless": { send: BODY },
  "/big-announced": { announce: 2 * 2 ** 30, send: BODY },
  "/lies-small": { announce: 1000, send: BODY },
  "/lies-big": { announce: 4 * MiB, send: 1 * MiB },
  "/fits": { announce: 1 * MiB, send: 1 * MiB },
};

let server: net.Server;
let base = "";
/** Per route: bytes the server managed to write before the client closed. */
const sent = new Map<string, number>();

beforeAll(async () => {
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  server = net.createServer((sock) => {
    sock.on("error", () => {});
    sock.once("data", (req) => {
      const url = /^GET (\S+)/.exec(req.toString("latin1"))?.[1] ?? "";
      const r = routes[url];
      if (!r) return void sock.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n${r.announce === undefined ? "" : `content-length: ${r.announce}\r\n`}\r\n`);
      let n = 0;
      sent.set(url, 0);
      const pump = () => {
        while (n < r.send && !sock.destroyed) {
          const part = chunk.subarray(0, Math.min(chunk.length, r.send - n));
          n += part.length;
          sent.set(url, n);
          if (!sock.write(part)) return void sock.once("drain", pump);
        }
        if (!sock.destroyed) sock.end();
      };
      pump();
    });
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(() => server?.close());

async function withLimit<T>(limit: string | undefined, f: () => Promise<T>): Promise<T> {
  const saved = process.env.KILN_MAX_DOWNLOAD_SIZE;
  if (limit === undefined) delete process.env.KILN_MAX_DOWNLOAD_SIZE;
  else process.env.KILN_MAX_DOWNLOAD_SIZE = limit;
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.KILN_MAX_DOWNLOAD_SIZE;
    else process.env.KILN_MAX_DOWNLOAD_SIZE = saved;
  }
}

async function fetchTo(route: string): Promise<{ error?: unknown; size?: number; tmp: string }> {
  const tmp = fs.mkdtempSync(path.join(work, "tmp-"));
  try {
    const d = await withLimit(String(LIMIT), () => download(base + route, tmp));
    const size = fs.statSync(d.file).size;
    expect(d.size).toBe(size);
    return { size, tmp };
  } catch (error) {
    return { error, tmp };
  }
}

function expectLimitError(r: { error?: unknown; tmp: string }, route: string): void {
  expect(r.error).toBeInstanceOf(KilnError);
  expect((r.error as Error).message).toMatch(new RegExp(`^ADD ${base}${route}: .*more than ${LIMIT} bytes \\(the download limit; raise it with KILN_MAX_DOWNLOAD_SIZE\\)`));
  expect(fs.readdirSync(r.tmp)).toEqual([]); // the partial download is gone
}

describe("ADD downloads are bounded by KILN_MAX_DOWNLOAD_SIZE", () => {
  test("the default is documented and overridable", async () => {
    expect(DEFAULT_MAX_DOWNLOAD).toBe(16 * 2 ** 30);
    await withLimit(undefined, async () => expect(maxDownloadSize()).toBe(DEFAULT_MAX_DOWNLOAD));
    await withLimit("256M", async () => expect(maxDownloadSize()).toBe(256 * MiB));
    await withLimit("much", async () => expect(() => maxDownloadSize()).toThrow(/KILN_MAX_DOWNLOAD_SIZE="much" is not a size/));
    expect(fs.readFileSync(path.join(import.meta.dir, "..", "..", "README.md"), "utf8")).toContain("KILN_MAX_DOWNLOAD_SIZE");
  });

  test("a body without Content-Length stops at the limit, long before the server is done", async () => {
    const r = await fetchTo("/endless");
    expectLimitError(r, "/endless");
    expect(sent.get("/endless")!).toBeLessThan(BODY);
  });

  test("a Content-Length above the limit fails before the body is read", async () => {
    const r = await fetchTo("/big-announced");
    expectLimitError(r, "/big-announced");
    expect((r.error as Error).message).toContain("announces 2147483648 bytes");
    expect(sent.get("/big-announced")!).toBeLessThan(BODY);
  });

  test("a Content-Length that understates the body: no more than announced is kept", async () => {
    const r = await fetchTo("/lies-small");
    // HTTP ends the body at Content-Length; what follows is not part of it.
    if (r.error) expect(r.error).toBeInstanceOf(KilnError);
    else expect(r.size).toBe(1000);
    expect(sent.get("/lies-small")!).toBeLessThan(BODY);
  });

  test("a body shorter than its Content-Length is a failed download", async () => {
    const r = await fetchTo("/lies-big");
    expect(r.error).toBeInstanceOf(KilnError);
    expect((r.error as Error).message).toMatch(/download failed/);
    expect(fs.readdirSync(r.tmp)).toEqual([]);
  });

  test("a download under the limit works", async () => {
    const r = await fetchTo("/fits");
    expect(r.error).toBeUndefined();
    expect(r.size).toBe(MiB);
  });

  for (const form of FORMS) {
    test(`kiln build: ADD of an endless URL fails at the limit (${form})`, async () => {
      const ctx = path.join(work, `ctx-${form}`);
      fs.mkdirSync(ctx);
      fs.writeFileSync(path.join(ctx, "Dockerfile"), `FROM scratch\nADD ${base}/endless /big\n`);
      const kw = path.join(work, `kw-${form}`);
      const out = path.join(work, `out-${form}.tar`);
      const r = await kilnIn(form, ["build", "-c", ctx, "--no-push", "--tar-path", out], { env: { KILN_MAX_DOWNLOAD_SIZE: "8M", KILN_WORKDIR: kw } });
      expect(r.err).toMatch(/^kiln: Dockerfile:2: ADD http:\/\/127\.0\.0\.1:\d+\/endless: the body is more than 8388608 bytes \(the download limit; raise it with KILN_MAX_DOWNLOAD_SIZE\)$/m);
      expect(r.code).toBe(1);
      expect(fs.existsSync(out)).toBe(false);
    }, 300_000);
  }
});
