// Git through the git command line, shared by remote build contexts (context-remote.ts) and
// `ADD <git URL>` sources: which sources are git (BuildKit's gitutil.ParseGitRef), resolving a
// ref to its commit with `git ls-remote` (no clone: enough for a cache key), and checking a commit
// out into a directory. Git never prompts (a CI job has nobody to answer) and URLs in messages
// lose their user name and password.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { KilnError } from "../util/errors.ts";

/** Run git; resolves with its stdout. `what` and `step` name the failure. */
export function runGit(args: string[], o: { what: string; step: string; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd: o.cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...(o.env ?? process.env), GIT_TERMINAL_PROMPT: "0" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      reject(new KilnError(missing ? `${o.what}: needs the git command, which is not installed (apt-get install git, apk add git)` : `${o.what}: git: ${e.message}`));
    });
    child.on("close", (code) => {
      if (code === 0) return resolve(out);
      const last = err.trim().split("\n").filter(Boolean).pop() ?? `exit ${code}`;
      reject(new GitError(`${o.what}: git ${o.step}: ${stripCredentials(last)}`, err));
    });
  });
}

/** A failed git command; `stderr` is kept for callers that retry differently. */
export class GitError extends KilnError {
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

const stripCredentials = (s: string) => s.replace(/\/\/[^/@\s]*@/g, "//");

/** A URL fit for messages: no user name or password. */
export function shownUrl(url: string): string {
  return stripCredentials(url);
}

/** `ADD <git URL>[#ref[:subdir]]`, parsed. */
export interface GitSource {
  /** The repository as git takes it (no fragment). */
  remote: string;
  /** Branch, tag, full ref or commit; undefined: the remote's HEAD. */
  ref?: string;
  subdir?: string;
}

const SCP_LIKE = /^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:/;

/**
 * BuildKit's rule (util/gitutil/git_ref.go ParseGitRef): git://, ssh:// and user@host:path are git;
 * an http(s) URL is git only when its path ends in ".git". Everything else is not (ADD downloads
 * it, or it is a context path).
 */
export function parseGitSource(src: string): GitSource | undefined {
  const hash = src.indexOf("#");
  const remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? "" : src.slice(hash + 1);
  let git = false;
  if (/^(git|ssh):\/\//i.test(remote)) git = true;
  else if (/^https?:\/\//i.test(remote)) {
    try {
      git = new URL(remote).pathname.endsWith(".git");
    } catch {
      git = false;
    }
  } else git = SCP_LIKE.test(remote) && !remote.includes("://");
  if (!git) return undefined;
  const colon = fragment.indexOf(":");
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? "" : fragment.slice(colon + 1);
  return { remote, ref: ref || undefined, subdir: subdir || undefined };
}

const COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** What a ref resolved to: the commit, and the ref to fetch it by. */
export interface ResolvedRef {
  commit: string;
  fetchRef: string;
}

/**
 * The commit a ref names, by `git ls-remote` (tags before branches, as git's own lookup; an
 * annotated tag's commit, not the tag object). A full commit id is taken as is.
 */
export async function resolveGitRef(g: GitSource, what: string, env?: NodeJS.ProcessEnv): Promise<ResolvedRef> {
  const ref = g.ref ?? "HEAD";
  if (COMMIT.test(ref)) return { commit: ref, fetchRef: ref };
  const out = await runGit(["ls-remote", "--", g.remote], { what, step: "ls-remote", env });
  const refs = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [sha, name] = line.split("\t");
    if (sha && name) refs.set(name, sha);
  }
  for (const name of [ref, `refs/tags/${ref}`, `refs/heads/${ref}`]) {
    const sha = refs.get(name + "^{}") ?? refs.get(name);
    if (sha) return { commit: sha, fetchRef: name };
  }
  throw new KilnError(`${what}: git ref "${ref}" does not exist in ${shownUrl(g.remote)}`);
}

/**
 * Check `commit` out into `dir` (a new directory), with its files' times set to the commit's
 * time (BuildKit's git.mtime=commit, moby/buildkit#6600: the same commit gives the same layer);
 * .git is removed unless keepGitDir. Returns the directory to copy: dir, or dir/subdir.
 */
export async function checkoutGit(g: GitSource, r: ResolvedRef, dir: string, o: { what: string; keepGitDir: boolean; env?: NodeJS.ProcessEnv }): Promise<string> {
  const run = (step: string, args: string[]) => runGit(["-C", dir, ...args], { what: o.what, step, env: o.env });
  fs.mkdirSync(dir, { recursive: true });
  await runGit(["init", "-q", dir], { what: o.what, step: "init", env: o.env });
  await run("remote", ["remote", "add", "origin", g.remote]);
  try {
    await run("fetch", ["fetch", "-q", "--depth", "1", "origin", r.fetchRef]);
  } catch (e) {
    // Git's dumb HTTP transport has no shallow fetch: fetch everything the ref reaches.
    if (!(e instanceof GitError) || !/shallow|dumb/i.test(e.stderr)) throw e;
    await run("fetch", ["fetch", "-q", "origin", r.fetchRef]);
  }
  try {
    await run("checkout", ["-c", "advice.detachedHead=false", "checkout", "-q", r.commit]);
  } catch (e) {
    throw new KilnError(`${o.what}: commit ${r.commit} is not what ${r.fetchRef} names now (did the ref move?): ${(e as Error).message}`);
  }
  // Submodules come along, as BuildKit's git source fetches them.
  if (fs.existsSync(path.join(dir, ".gitmodules"))) await run("submodule", ["submodule", "update", "-q", "--init", "--recursive", "--depth", "1"]).catch(async (e) => {
    if (!(e instanceof GitError) || !/shallow|dumb/i.test(e.stderr)) throw e;
    await run("submodule", ["submodule", "update", "-q", "--init", "--recursive"]);
  });
  const time = Number((await run("show", ["show", "-s", "--format=%ct", r.commit])).trim());
  // Git never tracks a path named .git: every one (the repository's, a submodule's) is git's own.
  if (!o.keepGitDir) removeGitDirs(dir);
  setTimes(dir, time);
  if (!g.subdir) return dir;
  // Symlinks in the repository may not lead the subdirectory out of the checkout.
  const root = fs.realpathSync(dir);
  let sub: string | undefined;
  try {
    sub = fs.realpathSync(path.join(root, g.subdir));
  } catch {
    sub = undefined;
  }
  if (!sub || !(sub === root || sub.startsWith(root + path.sep)) || !fs.statSync(sub).isDirectory()) {
    throw new KilnError(`${o.what}: subdirectory "${g.subdir}" is not a directory in commit ${r.commit}`);
  }
  return sub;
}

function setTimes(p: string, t: number): void {
  const st = fs.lstatSync(p);
  if (st.isDirectory()) for (const name of fs.readdirSync(p)) setTimes(path.join(p, name), t);
  fs.lutimesSync(p, t, t);
}

function removeGitDirs(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === ".git") fs.rmSync(path.join(dir, e.name), { recursive: true, force: true });
    else if (e.isDirectory()) removeGitDirs(path.join(dir, e.name));
  }
}
