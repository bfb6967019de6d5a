// Writing a layer file in one pass: tar bytes are hashed (diffID) on their way into the
// compressor, compressed bytes are hashed (digest) on their way to a temp file. Nothing is held
// whole in memory; the file is renamed to its digest at the end. A small layer costs its tar
// bytes, one inline gzip (parallel-gzip.ts) and one file write.
import fs from "node:fs";
import { once } from "node:events";
import { createHash, randomBytes } from "node:crypto";
import { TarWriter } from "../tar/writer.ts";
import type { TarHeader } from "../tar/types.ts";
import { noteGarbage } from "../runtime/index.ts";
import { KilnError } from "../util/errors.ts";
import { createCompressor, layerMediaType, type Compression } from "./compression.ts";
import { ParallelGzip } from "./parallel-gzip.ts";
import { stepPhases } from "../util/timing.ts";

export interface WrittenLayer {
  /** The layer file, named after its digest's hex inside outDir. */
  path: string;
  mediaType: string;
  /** sha256:… of the compressed file */
  digest: string;
  size: number;
  /** sha256:… of the uncompressed tar */
  diffId: string;
  uncompressedSize: number;
  entries: number;
}

export interface LayerWriterOptions {
  compression: Compression;
  level?: number;
}

const FEED = 256 * 1024; // tar headers are 512 bytes; batch them before they reach the compressor

export class LayerWriter {
  private tar: TarWriter;
  private tarHash = createHash("sha256");
  private outHash = createHash("sha256");
  private tarSize = 0;
  private outSize = 0;
  private count = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private compressor;
  /** gzip goes through ParallelGzip (all cores); zstd through a zlib stream. */
  private pgzip: ParallelGzip | null = null;
  private fd: number;
  private tmp: string;
  private failed: Error | null = null;
  private started = performance.now();

  constructor(private outDir: string, private opts: LayerWriterOptions) {
    fs.mkdirSync(outDir, { recursive: true });
    this.tmp = `${outDir}/.layer-${randomBytes(6).toString("hex")}.tmp`;
    this.fd = fs.openSync(this.tmp, "w", 0o644);
    if (opts.compression === "gzip") this.pgzip = new ParallelGzip(opts.level, (c) => this.out(c));
    this.compressor = opts.compression === "gzip" ? null : createCompressor(opts.compression, opts.level);
    this.compressor?.on("data", (c: Uint8Array) => this.out(c));
    this.compressor?.on("error", (e: Error) => (this.failed = e));
    this.tar = new TarWriter((chunk) => this.feed(chunk));
  }

  /** Add one entry; `body` is required for regular files with size > 0. */
  async add(header: TarHeader, body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    this.count++;
    await this.tar.add(header, body);
  }

  async finish(): Promise<WrittenLayer> {
    try {
      await this.tar.finish();
      await this.drain();
      if (this.pgzip) await this.pgzip.end();
      if (this.compressor) {
        const ended = once(this.compressor, "end"); // rejects on "error" too
        this.compressor.end();
        await ended;
      }
      if (this.failed) throw this.failed;
      // No fsync: the file lives in the build's temp workspace and is read back from the page
      // cache (push, cache write, next stage) or deleted with it; a crash loses the build anyway.
      fs.closeSync(this.fd);
      const hex = this.outHash.digest("hex");
      const path = `${this.outDir}/${hex}`;
      fs.renameSync(this.tmp, path);
      stepPhases.add("layer", performance.now() - this.started);
      return {
        path,
        mediaType: layerMediaType(this.opts.compression),
        digest: `sha256:${hex}`,
        size: this.outSize,
        diffId: `sha256:${this.tarHash.digest("hex")}`,
        uncompressedSize: this.tarSize,
        entries: this.count,
      };
    } catch (e) {
      this.abort();
      throw e instanceof KilnError ? e : new KilnError(`writing layer in ${this.outDir}: ${(e as Error).message}`);
    }
  }

  /** Drop the temp file (after a failure elsewhere). */
  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed (finish() failed after closing it): nothing left to release.
    }
    fs.rmSync(this.tmp, { force: true });
    this.compressor?.destroy();
  }

  private out(c: Uint8Array): void {
    this.outHash.update(c);
    this.outSize += c.length;
    let off = 0;
    while (off < c.length) off += fs.writeSync(this.fd, c, off, c.length - off);
    noteGarbage(c.length); // bounds the garbage a big layer leaves (peak RSS)
  }

  private async feed(chunk: Uint8Array): Promise<void> {
    this.tarHash.update(chunk);
    this.tarSize += chunk.length;
    if (!this.compressor && !this.pgzip) return this.out(chunk);
    if (this.pgzip) return this.pgzip.write(chunk); // it copies into its own blocks
    // The tar writer may reuse its buffer after we return, so keep a copy until it is handed on.
    this.pending.push(chunk.slice());
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FEED) await this.drain();
  }

  private async drain(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.failed) throw this.failed;
    if (this.pgzip) return this.pgzip.write(data);
    if (this.compressor && !this.compressor.write(data)) await drained(this.compressor);
  }
}

function drained(s: NodeJS.EventEmitter): Promise<unknown> {
  return once(s, "drain"); // events.once rejects when "error" fires first
}
