// ADD's "is this a local archive?" test and decompression. Like BuildKit, an archive is recognised
// by content (a compression magic, then a valid tar header), never by name. gzip and zstd use
// node:zlib (via fs/compression.ts); bzip2 and xz have no node:zlib codec, so they are piped
// through the `bzip2 -dc` / `xz -dc` programs, which must be installed (apt-get install bzip2 xz-utils).
import fs from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { decompress, peekFirst, sniffCompression } from "../../fs/compression.ts";
import { BLOCK, verifyChecksum } from "../../tar/header.ts";
import { KilnError } from "../../util/errors.ts";

class MissingToolError extends KilnError {}

export type ArchiveCodec = "gzip" | "zstd" | "bzip2" | "xz" | "none";

export function sniffCodec(h: Uint8Array): ArchiveCodec {
  const c = sniffCompression(h);
  if (c !== "none") return c;
  if (h.length >= 3 && h[0] === 0x42 && h[1] === 0x5a && h[2] === 0x68) return "bzip2";
  if (h.length >= 6 && h[0] === 0xfd && h[1] === 0x37 && h[2] === 0x7a && h[3] === 0x58 && h[4] === 0x5a && h[5] === 0x00) return "xz";
  return "none";
}

const TOOLS: Record<"bzip2" | "xz", { cmd: string; pkg: string }> = {
  bzip2: { cmd: "bzip2", pkg: "bzip2" },
  xz: { cmd: "xz", pkg: "xz-utils" },
};

/** Decompress gzip, zstd, bzip2 or xz (sniffed from the first bytes); anything else passes through. */
export async function* decompressAny(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const peeked = await peekFirst(source);
  if (!peeked) return;
  const codec = sniffCodec(peeked.head);
  if (codec === "bzip2" || codec === "xz") yield* viaTool(codec, peeked.all, what);
  else yield* decompress(peeked.all, what);
}

async function* viaTool(codec: "bzip2" | "xz", input: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const { cmd, pkg } = TOOLS[codec];
  const child = spawn(cmd, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on("error", () => {}); // EPIPE when the tool dies early: reported through its exit status
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => {});
  const feeding = (async () => {
    for await (const chunk of input) {
      if (child.stdin!.destroyed) return;
      if (!child.stdin!.write(chunk)) await once(child.stdin!, "drain");
    }
    child.stdin!.end();
  })();
  feeding.catch(() => {});
  let done = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Uint8Array;
    await feeding;
    const code = await exited;
    if (code !== 0) throw new KilnError(`${what}: ${cmd} -dc failed (exit ${code}): ${stderr.trim()}`);
    done = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new MissingToolError(`${what} is ${codec}-compressed and needs the "${cmd}" program: install it (apt-get install ${pkg})`);
    }
    throw e;
  } finally {
    if (!done) child.kill();
  }
}

/** Whether a local file is a (possibly compressed) tar archive: its first header must be valid. */
export async function isArchiveFile(host: string, what: string): Promise<boolean> {
  const head = Buffer.alloc(BLOCK);
  let got = 0;
  const stream = fs.createReadStream(host);
  try {
    for await (const chunk of decompressAny(stream, what)) {
      const n = Math.min(chunk.length, BLOCK - got);
      head.set(chunk.subarray(0, n), got);
      got += n;
      if (got === BLOCK) break;
    }
  } catch (e) {
    if (e instanceof MissingToolError) throw e;
    return false; // a corrupt stream is not an archive; ADD copies it as a file, as Docker does
  } finally {
    stream.destroy();
  }
  if (got < BLOCK) return false;
  try {
    return verifyChecksum(head, 0);
  } catch {
    return false;
  }
}
