// The build context, as kaniko takes it: a directory (PATH or dir://PATH), a local tar file
// (.tar, .tar.gz, .tgz, ...: recognised by content, extracted into the build's own temp dir), or
// tar://stdin; then --context-sub-path, the Dockerfile (-f: absolute, relative to the context, or
// "-" for stdin) and the .dockerignore. The Dockerfile is read even when .dockerignore excludes it,
// as Docker does.
// Inside the context, symlinks are followed only inside it, with the context as "/" (as COPY sees
// them): a Dockerfile, .dockerignore or --context-sub-path that is a symlink leading out of the
// context resolves inside it or fails. A tar context's Dockerfile always comes from the tar.
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { IgnoreMatcher, loadDockerignore } from "../dockerfile/dockerignore.ts";
import { KilnError, UsageError } from "../util/errors.ts";
import { decompressAny } from "./copy/archive.ts";
import { extractTar } from "../fs/unpack.ts";
import { fetchRemoteContext, isRemoteContext, type GitContextOptions } from "./context-remote.ts";
import { resolveInRoot } from "../run/root-path.ts";

export interface BuildContext {
  /** Absolute, symlink-free context directory (after --context-sub-path). */
  dir: string;
  /** Absolute Dockerfile path, or "-" when it came from stdin. */
  dockerfilePath: string;
  dockerfileText: string;
  /** For error messages: the path relative to the context when inside it, e.g. "Dockerfile". */
  dockerfileName: string;
  ignore: IgnoreMatcher;
}

export interface ContextOptions {
  context: string;
  contextSubPath?: string;
  dockerfile: string;
  /** A temp dir the build owns; tar contexts are extracted into it. */
  workDir: string;
  /** Standard input for tar://stdin and `-f -` (default process.stdin); tests inject it. */
  stdin?: AsyncIterable<Uint8Array>;
  /** --git options for a git context. */
  git?: GitContextOptions;
}

const stdinOf = (o: ContextOptions) => o.stdin ?? (process.stdin as unknown as AsyncIterable<Uint8Array>);

export async function openContext(opts: ContextOptions): Promise<BuildContext> {
  const dockerfileArg = opts.dockerfile === "" ? "Dockerfile" : opts.dockerfile;
  const ctx = opts.context === "" ? "." : opts.context;
  if (ctx === "tar://stdin" && dockerfileArg === "-") {
    throw new KilnError("the context (tar://stdin) and the Dockerfile (-f -) cannot both come from stdin");
  }
  let root = await locate(ctx, opts);
  // Extracted into the build's own directory (a tar): nothing of it may come from the host.
  const extracted = root === opts.workDir ? ctx : undefined;
  if (opts.contextSubPath) root = subPath(root, opts.contextSubPath);
  const dir = fs.realpathSync(root);
  if (!fs.statSync(dir).isDirectory()) throw new KilnError(`build context "${dir}" is not a directory`);

  const confined = (p: string) => {
    const rel = insideRel(dir, p);
    return rel === undefined ? p : resolveInRoot(dir, "/" + rel);
  };
  if (dockerfileArg === "-") {
    const text = await readAll(stdinOf(opts));
    return { dir, dockerfilePath: "-", dockerfileText: text, dockerfileName: "Dockerfile (stdin)", ignore: await loadDockerignore(dir, undefined, confined) };
  }
  const { path: dockerfilePath, host } = findDockerfile(dir, dockerfileArg, extracted);
  let text: string;
  try {
    const fd = fs.openSync(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      text = fs.readFileSync(fd, "utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new KilnError(`cannot read the Dockerfile "${dockerfilePath}": ${(e as Error).message}`);
  }
  const inside = insideRel(dir, dockerfilePath);
  const dockerfileName = inside ?? dockerfilePath;
  return { dir, dockerfilePath, dockerfileText: text, dockerfileName, ignore: await loadDockerignore(dir, dockerfilePath, confined) };
}

/** `p` relative to the context directory when it lies inside it (lexically), else undefined. */
function insideRel(dir: string, p: string): string | undefined {
  const rel = path.relative(dir, p);
  return rel !== "" && rel !== ".." && !rel.startsWith("../") && !path.isAbsolute(rel) ? rel : undefined;
}

async function locate(ctx: string, opts: ContextOptions): Promise<string> {
  if (ctx === "tar://stdin") return extractContext(stdinOf(opts), "tar://stdin", opts.workDir);
  if (ctx.startsWith("dir://")) return existingDir(ctx.slice("dir://".length), ctx);
  if (ctx.startsWith("tar://")) {
    const file = path.resolve(ctx.slice("tar://".length));
    statOrFail(file, ctx);
    return extractContext(fs.createReadStream(file), ctx, opts.workDir);
  }
  if (isRemoteContext(ctx)) return fetchRemoteContext(ctx, opts.workDir, opts.git);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(ctx);
  if (scheme) {
    throw new KilnError(`build context "${ctx}": the ${scheme[1]}:// scheme is not supported (use a directory, dir://PATH, a .tar/.tar.gz file, tar://PATH or tar://stdin)`);
  }
  const abs = path.resolve(ctx);
  const st = statOrFail(abs, ctx);
  if (st.isDirectory()) return abs;
  if (st.isFile()) return extractContext(fs.createReadStream(abs), ctx, opts.workDir);
  throw new KilnError(`build context "${ctx}" is neither a directory nor a tar file`);
}

function statOrFail(abs: string, given: string): fs.Stats {
  try {
    return fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KilnError(`build context "${given}" ${code === "ENOENT" ? "does not exist" : `cannot be read: ${(e as Error).message}`}`);
  }
}

function existingDir(p: string, given: string): string {
  const abs = path.resolve(p);
  if (!statOrFail(abs, given).isDirectory()) throw new KilnError(`build context "${given}" is not a directory`);
  return abs;
}

async function extractContext(source: AsyncIterable<Uint8Array>, given: string, workDir: string): Promise<string> {
  fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const what = `build context ${given}`;
  await extractTar(decompressAny(source, what), workDir, { what, owner: "none" });
  return workDir;
}

/** --context-sub-path: a relative path that must stay inside the context. */
function subPath(root: string, sub: string): string {
  const rel = path.posix.normalize(sub.replace(/^\/+/, ""));
  if (rel === ".." || rel.startsWith("../")) throw new UsageError(`flag --context-sub-path: "${sub}" leaves the build context`);
  // Followed inside the context only: a symlink in a tar must not make the host the context.
  const abs = resolveInRoot(root, "/" + rel);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch {
    throw new UsageError(`flag --context-sub-path: "${sub}" does not exist in the build context`);
  }
  if (!st.isDirectory()) throw new UsageError(`flag --context-sub-path: "${sub}" is not a directory`);
  return abs;
}

/**
 * Absolute, or relative to the context; like kaniko, a path relative to the working directory also
 * works for a directory context when the context has nothing of that name. Inside the context the
 * file is resolved as COPY would (symlinks followed inside it only); `tar` names a tar context,
 * whose Dockerfile must come from the tar. Returns the path as named and the host file to read.
 */
function findDockerfile(dir: string, arg: string, tar: string | undefined): { path: string; host: string } {
  const lexical = path.isAbsolute(arg) ? path.normalize(arg) : path.join(dir, arg);
  const rel = insideRel(dir, lexical);
  const notFound = () => new UsageError(`flag --dockerfile: Dockerfile not found: "${lexical}"${path.isAbsolute(arg) ? "" : ` (-f ${arg} is looked up in the build context ${dir})`}`);
  if (rel !== undefined) {
    const host = resolveInRoot(dir, "/" + rel);
    if (isFile(host, false)) return { path: lexical, host };
    if (tar !== undefined || present(lexical)) {
      if (!present(lexical)) throw new UsageError(`flag --dockerfile: "${arg}" is not in the build context ${tar}`);
      throw new UsageError(`flag --dockerfile: "${rel}" does not resolve to a file inside the build context${tar ? ` ${tar}` : ""} (symlinks are followed inside the context only)`);
    }
  } else if (tar !== undefined && !path.isAbsolute(arg)) {
    throw new UsageError(`flag --dockerfile: "${arg}" is outside the build context ${tar}`);
  }
  // Named on the command line, outside the context (or not in it): the user's own host file.
  const candidates = rel === undefined ? [lexical] : path.isAbsolute(arg) ? [] : [path.resolve(arg)];
  for (const c of candidates) if (isFile(c, true)) return { path: c, host: fs.realpathSync(c) };
  throw notFound();
}

function isFile(p: string, follow: boolean): boolean {
  try {
    return (follow ? fs.statSync(p) : fs.lstatSync(p)).isFile();
  } catch {
    return false; // Not there (or unreadable): the caller's error names it.
  }
}

/** Whether anything (even a dangling symlink) is at `p`. */
function present(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of source) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}
