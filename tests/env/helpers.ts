// Shared bits of the environment's own tests: temp dirs (removed by removeTempDirs), skopeo JSON calls.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../../scripts/lib/exec.ts";

const dirs: string[] = [];

/** Call from each file's afterAll: bun test runs no process "exit" hooks. */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `kiln-${prefix}-`));
  dirs.push(d);
  return d;
}

/** The parts of `skopeo inspect`'s summary the tests read. */
export interface SkopeoInfo {
  Digest: string;
  Layers: string[];
  Architecture: string;
  Os: string;
  Env: string[];
}

/** The parts of a raw manifest (`layers`) or index (`manifests`) the tests read. */
export interface SkopeoRaw {
  mediaType: string;
  layers: { digest: string }[];
  manifests: { digest: string; platform: { architecture: string } }[];
}

/** `skopeo inspect` of a plain-HTTP registry reference (raw manifest when raw=true). */
export async function skopeoInspect(ref: string, raw?: false): Promise<SkopeoInfo>;
export async function skopeoInspect(ref: string, raw: true): Promise<SkopeoRaw>;
export async function skopeoInspect(ref: string, raw = false): Promise<SkopeoInfo | SkopeoRaw> {
  const out = await exec("skopeo", ["inspect", "--tls-verify=false", ...(raw ? ["--raw"] : []), `docker://${ref}`]);
  return JSON.parse(out);
}

/** Unpacks a gzipped layer as root, keeping owners, modes and xattrs (like a container runtime would). */
export async function unpackLayer(gzFile: string, dir: string): Promise<void> {
  await exec("tar", ["-xzpf", gzFile, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", dir]);
}

export { exec };
