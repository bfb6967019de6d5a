// RUN --mount specs (src/dockerfile/mount-spec.ts) resolved against this build: the context, other
// stages' and images' filesystems, the persistent cache-mount directory, --secret and --ssh. The
// result is the runner's mount list (host paths); nothing here touches the rootfs being built.
// Secrets stay references (a file or an environment variable): their values are read by the run
// helper on its private tmpfs and never pass through a key, a log line or the image.
import { cpSync, existsSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, posix, relative } from "node:path";
import { parseMountSpecs, type MountSpec } from "../dockerfile/mount-spec.ts";
import type { ExpandedRun, StageRef } from "../dockerfile/index.ts";
import type { CacheMountRemote } from "../cache/mount-store.ts";
import { openCacheDir } from "./cache-mount-dir.ts";
import type { IgnoreMatcher } from "../dockerfile/dockerignore.ts";
import { ShellLex } from "../dockerfile/lexer.ts";
import type { NetworkMode, RunMount } from "../run/index.ts";
import { resolveInRoot } from "../run/root-path.ts";
import { KilnError } from "../util/errors.ts";
import type { BuildContext } from "./context.ts";
import { describeSources } from "./copy/index.ts";
import type { SourceEntry } from "./copy/types.ts";
import type { ImageResolver } from "./images.ts";
import type { BuildOptions, RunMountOptions } from "./options.ts";

export interface MountContext {
  /** Host directory of the build context. */
  contextDir: string;
  /** The context's .dockerignore: a bind of the context shows what COPY would see, as in BuildKit. */
  ignore?: IgnoreMatcher;
  /** Absolute WORKDIR: relative targets are below it (as BuildKit). */
  cwd: string;
  /** Host root of a stage's or image's filesystem (unpacked on demand). */
  rootOf(ref: StageRef): Promise<string>;
  opts: RunMountOptions;
  /** A directory of the build's workspace for throwaway cache directories (sharing=private). */
  scratch: string;
  warn(message: string): void;
  /** --cache-run-mounts: cache directories are fetched from and stored in the cache repository. */
  remote?: CacheMountRemote;
}

export interface PlannedMounts {
  mounts: RunMount[];
  network?: NetworkMode;
  /** Release locks (sharing=locked/private) and throwaway directories; call after the RUN. */
  release(): void;
}

/** The persistent cache-mount directory: flag, then KILN_CACHE_MOUNT_DIR, then /var/cache/kiln (root) or XDG. */
export function cacheMountRoot(opts: RunMountOptions): string {
  if (opts.cacheMountDir) return opts.cacheMountDir;
  const env = process.env.KILN_CACHE_MOUNT_DIR;
  if (env) return env;
  if (process.getuid?.() === 0) return "/var/cache/kiln/mounts";
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".cache"), "kiln", "mounts");
}

/** `--allow security.insecure` gates RUN --security=insecure (buildx's entitlement name). */
export function checkSecurity(x: ExpandedRun, opts: Pick<BuildOptions, "allow">): void {
  if (x.security === "insecure" && !(opts.allow ?? []).includes("security.insecure")) {
    throw new KilnError("RUN --security=insecure is not allowed: pass --allow security.insecure to permit it");
  }
}

function network(x: ExpandedRun): NetworkMode | undefined {
  const n = x.network;
  if (n === undefined || n === "default" || n === "none" || n === "host") return n;
  throw new KilnError(`RUN --network=${n}: not supported (use default, none or host)`);
}

export async function planRunMounts(x: ExpandedRun, mc: MountContext): Promise<PlannedMounts> {
  checkSecurity(x, mc.opts);
  const specs = parseSpecs(x);
  const froms = fromRefs(specs, x.mountFrom);
  const mounts: RunMount[] = [];
  const releases: (() => void)[] = [];
  /** Cache ids this RUN already opened: a second mount of one id shares it (and its lock). */
  const opened = new Map<string, string>();
  const release = () => {
    for (const r of releases.splice(0).reverse()) r();
  };
  try {
    for (const [i, s] of specs.entries()) {
      const target = s.target === undefined ? undefined : posix.resolve(mc.cwd, s.target);
      switch (s.type) {
        case "bind": {
          const root = s.from ? await rootOf(mc, froms[i]!, s.from) : mc.contextDir;
          let source = sourceIn(root, s.source, s.from);
          if (!s.from && mc.ignore) source = filteredContext(mc.contextDir, source, mc.ignore, join(mc.scratch, `bind-${process.pid}-${Date.now()}-${i}`), releases);
          mounts.push({ kind: "bind", source, target: target!, readonly: !s.readwrite, discardWrites: s.readwrite });
          break;
        }
        case "cache": {
          const seed = s.from ? sourceIn(await rootOf(mc, froms[i]!, s.from), s.source, s.from) : undefined;
          const dir = opened.get(s.id) ?? (await openCacheDir(cacheMountRoot(mc.opts), s, seed, mc.scratch, releases, mc.remote));
          opened.set(s.id, dir);
          if (mc.remote && s.sharing !== "private" && !s.readonly) mc.remote.used(s.id, dir);
          mounts.push({ kind: "bind", source: dir, target: target!, readonly: s.readonly });
          break;
        }
        case "tmpfs":
          mounts.push({ kind: "tmpfs", target: target!, size: s.size });
          break;
        case "secret": {
          const src = mc.opts.secrets?.[s.id];
          const missing = !src || ("file" in src ? !existsSync(src.file) : process.env[src.env] === undefined);
          if (missing) {
            if (s.required) throw new KilnError(`RUN --mount=type=secret: secret "${s.id}" is required but not given (use --secret id=${s.id},src=FILE or --secret id=${s.id},env=VAR)`);
            break; // BuildKit: an optional secret that is not given is simply not mounted
          }
          mounts.push({ kind: "secret", target, env: s.env, from: src, mode: s.mode, uid: s.uid, gid: s.gid });
          break;
        }
        case "ssh": {
          const agent = mc.opts.ssh?.[s.id];
          if (!agent) {
            if (s.required) throw new KilnError(`RUN --mount=type=ssh: ssh agent "${s.id}" is required but not given (use --ssh ${s.id}=$SSH_AUTH_SOCK)`);
            break;
          }
          mounts.push({ kind: "ssh", agent, target: target!, mode: s.mode, uid: s.uid, gid: s.gid });
          break;
        }
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { mounts, network: network(x), release };
}

async function rootOf(mc: MountContext, ref: StageRef | undefined, from: string): Promise<string> {
  if (!ref) throw new KilnError(`internal: RUN --mount from=${from} was not resolved`);
  return await mc.rootOf(ref).catch((e: Error) => {
    if ("stage" in ref) throw e;
    throw new KilnError(`RUN --mount from=${from}: not a stage of this Dockerfile, and not an image that can be pulled: ${e.message}`);
  });
}

/** The RUN's --mount values with its ARG and ENV values expanded in each option value. */
function parseSpecs(x: ExpandedRun): MountSpec[] {
  const vars = new Map(x.env.map((kv) => {
    const eq = kv.indexOf("=");
    return [kv.slice(0, eq < 0 ? kv.length : eq), eq < 0 ? "" : kv.slice(eq + 1)] as [string, string];
  }));
  const lex = new ShellLex();
  try {
    return parseMountSpecs(x.mounts, "", x.mounts.some((m) => m.includes("$")) ? (v) => lex.processWord(v, vars) : undefined);
  } catch (e) {
    throw new KilnError((e as Error).message);
  }
}

/** The StageRef of each spec's from= (ExpandedRun.mountFrom lists them in the order they appear). */
function fromRefs(specs: MountSpec[], refs: StageRef[]): (StageRef | undefined)[] {
  let k = 0;
  return specs.map((s) => ("from" in s && s.from ? refs[k++] : undefined));
}

/**
 * A context source as COPY sees it: the directory itself when .dockerignore excludes nothing in
 * it, else a copy without the excluded files (removed after the RUN).
 */
function filteredContext(contextDir: string, source: string, ignore: IgnoreMatcher, copy: string, releases: (() => void)[]): string {
  const rel = (p: string) => relative(contextDir, p);
  if (rel(source) !== "" && ignore.matches(rel(source))) throw new KilnError(`RUN --mount: source ${rel(source)} is excluded by .dockerignore`);
  if (ignore.patterns.length === 0 || !hasIgnored(source, rel, ignore)) return source;
  releases.push(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(source, copy, {
    recursive: true, preserveTimestamps: true, verbatimSymlinks: true,
    filter: (src) => {
      const r = rel(src);
      if (r === "" || !ignore.matches(r)) return true;
      return lstatOrNull(src)?.isDirectory() === true && !ignore.canSkipDir(r);
    },
  });
  return copy;
}

function hasIgnored(dir: string, rel: (p: string) => string, ignore: IgnoreMatcher): boolean {
  const st = lstatOrNull(dir);
  if (!st?.isDirectory()) return false;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (ignore.matches(rel(p)) || hasIgnored(p, rel, ignore)) return true;
  }
  return false;
}

/** A path inside a source root, symlinks followed inside it (never out of it), and it must exist. */
function sourceIn(root: string, source: string, from: string | undefined): string {
  const host = resolveInRoot(root, posix.resolve("/", source));
  if (!lstatOrNull(host)) throw new KilnError(`RUN --mount: source ${source} not found in ${from ? `"${from}"` : "the build context"}`);
  return host;
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** What the cache key of a RUN needs besides its text (see src/cache/key.ts). */
export interface RunKeyInputs {
  /** Per ExpandedRun.mountFrom entry: the stage's final key or the image's manifest digest. */
  mountFrom?: string[];
  /** Context files a bind mount shows the command (paths prefixed with the mount's target). */
  sources?: SourceEntry[];
}

/**
 * from= stages and images by what they resolve to, and the content a context bind shows, so a
 * changed input misses. Cache mounts, tmpfs, secrets and ssh add nothing: their content is never
 * part of a key (secrets' values least of all; their ids are in the raw --mount text).
 */
export async function runKeyInputs(x: ExpandedRun, pc: { results: Map<number, { key: string }>; images: ImageResolver; ctx: BuildContext }): Promise<RunKeyInputs> {
  if (x.mounts.length === 0) return {};
  const mountFrom: string[] = [];
  for (const ref of x.mountFrom) {
    if ("stage" in ref) {
      const r = pc.results.get(ref.stage);
      if (!r) throw new KilnError(`RUN --mount from=: stage ${ref.stage} was not built`);
      mountFrom.push(r.key);
    } else {
      const { image } = await pc.images.resolve(ref.image).catch((e: Error) => {
        throw new KilnError(`RUN --mount from=${ref.image}: not a stage of this Dockerfile, and not an image that can be pulled: ${e.message}`);
      });
      mountFrom.push(image.manifestDigest);
    }
  }
  let specs: MountSpec[];
  try {
    specs = parseSpecs(x);
  } catch {
    return { mountFrom }; // reported with its line when the RUN runs
  }
  const sources: SourceEntry[] = [];
  for (const s of specs) {
    if (s.type !== "bind" || s.from) continue;
    const entries = await describeSources({
      rootfs: "", sourceRoot: pc.ctx.dir, ignore: pc.ctx.ignore, sources: [s.source.replace(/^\/+/, "") || "."], dest: "/", workdir: "/", isAdd: false,
    }).catch((e: Error) => {
      throw new KilnError(`RUN --mount: ${e.message.replace(/^COPY failed: /, "")}`);
    });
    for (const e of entries) sources.push({ ...e, path: `${s.target}\0${e.path}` });
  }
  return { mountFrom: mountFrom.length ? mountFrom : undefined, sources: sources.length ? sources : undefined };
}
