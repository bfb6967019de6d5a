// Remote build contexts, as kaniko takes them: a git repository (git://HOST/PATH[#REF[#COMMIT]],
// or an http(s) URL ending in .git), cloned with the git command line, or a tar.gz archive at an
// http(s) URL, downloaded and unpacked. Either way the result is a directory in the build's
// own temp dir, which context.ts then treats like any local context.
import { Readable } from "node:stream";
import { KilnError } from "../util/errors.ts";
import { decompressAny } from "./copy/archive.ts";
import { extractTar } from "../fs/unpack.ts";
import { runGit, shownUrl } from "./git-source.ts";

/** kaniko's --git options (branch=…,single-branch=…,recurse-submodules=…,insecure-skip-tls=…). */
export interface GitContextOptions {
  branch?: string;
  singleBranch?: boolean;
  recurseSubmodules?: boolean;
  insecureSkipTls?: boolean;
}

const GIT_URL = /^git:\/\//;
const HTTP_URL = /^https?:\/\//;

export function isRemoteContext(ctx: string): boolean {
  return GIT_URL.test(ctx) || HTTP_URL.test(ctx);
}

/** Fetch `ctx` into `workDir` (an empty directory the build owns) and return the context dir. */
export async function fetchRemoteContext(ctx: string, workDir: string, git: GitContextOptions = {}, env = process.env): Promise<string> {
  const [location] = ctx.split("#", 1);
  if (GIT_URL.test(ctx) || /\.git\/?$/.test(location!)) return await cloneContext(ctx, workDir, git, env);
  return await downloadContext(ctx, workDir);
}

/** A URL fit for messages: no user name or password. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return shownUrl(url);
  }
}

async function downloadContext(url: string, workDir: string): Promise<string> {
  const what = `build context ${shown(url)}`;
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    throw new KilnError(`${what}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new KilnError(`${what}: HTTP ${res.status} ${res.statusText}`.trim());
  const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>) as AsyncIterable<Uint8Array>;
  await extractTar(decompressAny(body, what), workDir, { what, owner: "none" });
  return workDir;
}

/**
 * git://HOST/PATH is cloned over https, or over http when GIT_PULL_METHOD=http (kaniko's rule);
 * #REF picks a branch, tag or any ref (refs/pull/1/head), #REF#COMMIT a commit after that.
 */
async function cloneContext(ctx: string, workDir: string, opts: GitContextOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const [location, ref, commit] = ctx.split("#");
  const method = env.GIT_PULL_METHOD === "http" ? "http" : "https";
  const url = GIT_URL.test(location!) ? `${method}://${location!.slice("git://".length)}` : location!;
  const what = `build context ${shown(ctx)}`;
  const config = opts.insecureSkipTls ? ["-c", "http.sslVerify=false"] : [];
  // A branch name (from --git branch= or #refs/heads/NAME / #NAME) can be cloned directly; any
  // other ref (a pull request, a commit) is fetched after the clone.
  const branch = opts.branch ?? (ref && !ref.startsWith("refs/") ? ref : ref?.startsWith("refs/heads/") || ref?.startsWith("refs/tags/") ? ref.replace(/^refs\/(heads|tags)\//, "") : undefined);
  const clone = [...config, "clone", "--quiet"];
  if (branch) clone.push("--branch", branch);
  if (opts.singleBranch) clone.push("--single-branch");
  if (opts.recurseSubmodules) clone.push("--recurse-submodules");
  clone.push("--", url, workDir);
  await git("clone", clone, what, env);
  if (ref && !branch) {
    await git("fetch", [...config, "-C", workDir, "fetch", "--quiet", "origin", ref], what, env);
    await git("checkout", ["-C", workDir, "checkout", "--quiet", "FETCH_HEAD"], what, env);
  }
  if (commit) await git("checkout", ["-C", workDir, "checkout", "--quiet", commit], what, env);
  return workDir;
}

function git(step: string, args: string[], what: string, env: NodeJS.ProcessEnv): Promise<void> {
  return runGit(args, { what, step, env }).then(() => undefined);
}
