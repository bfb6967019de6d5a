// Remote contexts on loopback: a static file server (git's "dumb" HTTP protocol needs nothing
// more than the files of a bare repository after `git update-server-info`) and a git repository
// with a few branches to clone from it.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";

export interface DirServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serve the files under `dir` on 127.0.0.1 (GET only; 404 for anything missing); https with `tls`. */
export function serveDir(dir: string, tls?: { key: string; cert: string }): Promise<DirServer> {
  const requests: string[] = [];
  const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    requests.push(path);
    const file = join(dir, normalize(path).replace(/^(\.\.(\/|$))+/, ""));
    try {
      if (!statSync(file).isFile()) throw new Error("not a file");
      const body = readFileSync(file);
      res.writeHead(200, { "content-length": body.byteLength, "content-type": "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found\n");
    }
  };
  const srv = tls ? createHttpsServer(tls, handler) : createServer(handler);
  return new Promise((resolve) => {
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      resolve({ url: `${tls ? "https" : "http"}://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, requests, close: () => new Promise((r) => srv.close(() => r())) });
    });
  });
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t", GIT_CONFIG_NOSYSTEM: "1", HOME: "/nonexistent" };
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();

export interface GitFixture {
  /** The bare repository, ready for dumb HTTP: serve its parent and clone URL/repo.git. */
  bare: string;
  /** Commit ids by name: main, feature, first (main's first commit). */
  commits: Record<string, string>;
}

/**
 * A repository with branch main (two commits: the first one's Dockerfile labels "first", the
 * second "main"), branch feature ("feature"), tag v1 (= first) and refs/pull/1/head (= feature). Each commit's Dockerfile is
 * `FROM scratch`, `COPY which.txt /which.txt` and a label naming it.
 */
export function makeGitRepo(parent: string): GitFixture {
  const work = join(parent, "work");
  mkdirSync(work, { recursive: true });
  const commit = (name: string) => {
    writeFileSync(join(work, "Dockerfile"), `FROM scratch\nCOPY which.txt /which.txt\nLABEL which=${name}\n`);
    writeFileSync(join(work, "which.txt"), `${name}\n`);
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", name);
    return git(work, "rev-parse", "HEAD");
  };
  git(work, "init", "-q", "-b", "main");
  const first = commit("first");
  git(work, "tag", "v1");
  const main = commit("main");
  git(work, "checkout", "-q", "-b", "feature");
  const feature = commit("feature");
  git(work, "checkout", "-q", "main");
  const bare = join(parent, "repo.git");
  git(parent, "clone", "-q", "--bare", work, bare);
  // A ref that is neither a branch nor a tag, like a pull request's on GitHub.
  git(bare, "update-ref", "refs/pull/1/head", feature);
  git(bare, "update-server-info");
  return { bare, commits: { first, main, feature } };
}
