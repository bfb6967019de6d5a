// The Dockerfile, .dockerignore and --context-sub-path of a build context never come from the host
// through a symlink: a tar context's come from the tar (a symlink in it resolves inside the tar or
// fails), a directory context's symlinks are followed inside the context only. Through the CLI, in
// every form kiln ships in. A host file's first line must never appear in kiln's output.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TarWriter } from "../../src/tar/writer.ts";
import type { TarHeader } from "../../src/tar/types.ts";
import { FORMS, kilnIn, type Ran } from "./forms.ts";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-ctxlink-"));
fs.chmodSync(work, 0o755);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// Host files a context may point at: a "Dockerfile" whose first line would show in a parse error,
// a directory that would make a complete context, and an ignore file that would exclude everything.
const SECRET = "HOST-SECRET-LINE";
const hostFile = path.join(work, "host", "Dockerfile");
const hostDir = path.join(work, "host");
const hostIgnore = path.join(work, "host", "ignore-all");
fs.mkdirSync(hostDir);
fs.writeFileSync(hostFile, `${SECRET} not a dockerfile\n`);
fs.writeFileSync(hostIgnore, "*\n");
// The working directory kiln runs in holds a Dockerfile too: a tar context must not fall back to it.
const cwd = path.join(work, "cwd");
fs.mkdirSync(cwd);
fs.writeFileSync(path.join(cwd, "Dockerfile"), `${SECRET} in the working directory\n`);

type E = { name: string; link?: string; body?: string };

let n = 0;
async function tarContext(entries: E[]): Promise<string> {
  const parts: Uint8Array[] = [];
  const w = new TarWriter((c) => void parts.push(c.slice()));
  for (const e of entries) {
    const body = e.body === undefined ? undefined : new TextEncoder().encode(e.body);
    const h: TarHeader = e.link !== undefined
      ? { name: e.name, type: "symlink", linkname: e.link, mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0 }
      : { name: e.name, type: e.name.endsWith("/") ? "dir" : "file", mode: 0o755, uid: 0, gid: 0, mtime: 0, size: body?.length ?? 0 };
    await w.add(h, body);
  }
  await w.finish();
  const file = path.join(work, `ctx${++n}.tar`);
  fs.writeFileSync(file, Buffer.concat(parts));
  return file;
}

function dirContext(entries: E[]): string {
  const dir = path.join(work, `dir${++n}`);
  fs.mkdirSync(dir);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (e.link !== undefined) fs.symlinkSync(e.link, p);
    else if (e.name.endsWith("/")) fs.mkdirSync(p, { recursive: true });
    else fs.writeFileSync(p, e.body ?? "");
  }
  return dir;
}

const GOOD = "FROM scratch\nCOPY f /f\n";
const up = "../".repeat(20) + hostFile.slice(1);

interface Case {
  name: string;
  context: () => Promise<string> | string;
  args?: string[];
  /** undefined: the build succeeds */
  fails?: RegExp;
}

const cases: Case[] = [
  { name: "tar: Dockerfile -> absolute host file", context: () => tarContext([{ name: "Dockerfile", link: hostFile }, { name: "f", body: "f" }]), fails: /flag --dockerfile: "Dockerfile" does not resolve to a file inside the build context .*symlinks are followed inside the context only/ },
  { name: "tar: Dockerfile -> ../../ climbing to the host file", context: () => tarContext([{ name: "Dockerfile", link: up }]), fails: /"Dockerfile" does not resolve to a file inside the build context/ },
  { name: "tar: -f sub/Dockerfile where sub -> host directory", context: () => tarContext([{ name: "sub", link: hostDir }]), args: ["-f", "sub/Dockerfile"], fails: /"sub\/Dockerfile" does not resolve to a file inside the build context/ },
  { name: "tar without a Dockerfile: the working directory's is not used", context: () => tarContext([{ name: "f", body: "f" }]), fails: /flag --dockerfile: "Dockerfile" is not in the build context/ },
  { name: "tar: -f ../Dockerfile is outside the tar", context: () => tarContext([{ name: "Dockerfile", body: GOOD }, { name: "f", body: "f" }]), args: ["-f", "../Dockerfile"], fails: /flag --dockerfile: "\.\.\/Dockerfile" is outside the build context/ },
  { name: "tar: --context-sub-path through a symlink to a host directory", context: () => tarContext([{ name: "sub", link: hostDir }]), args: ["--context-sub-path", "sub"], fails: /flag --context-sub-path: "sub" does not exist in the build context/ },
  { name: "tar: Dockerfile -> a file inside the tar (relative)", context: () => tarContext([{ name: "real/", }, { name: "real/Dockerfile", body: GOOD }, { name: "Dockerfile", link: "real/Dockerfile" }, { name: "f", body: "f" }]) },
  { name: "tar: Dockerfile -> /real/Dockerfile (absolute means the tar's root)", context: () => tarContext([{ name: "real/" }, { name: "real/Dockerfile", body: GOOD }, { name: "Dockerfile", link: "/real/Dockerfile" }, { name: "f", body: "f" }]) },
  { name: "tar: .dockerignore -> host file is not read", context: () => tarContext([{ name: "Dockerfile", body: GOOD }, { name: ".dockerignore", link: hostIgnore }, { name: "f", body: "f" }]) },
  { name: "directory: Dockerfile -> host file", context: () => dirContext([{ name: "Dockerfile", link: hostFile }, { name: "f", body: "f" }]), fails: /"Dockerfile" does not resolve to a file inside the build context \(symlinks are followed inside the context only\)/ },
  { name: "directory: Dockerfile -> a file inside the context", context: () => dirContext([{ name: "in/Dockerfile", body: GOOD }, { name: "Dockerfile", link: "/in/Dockerfile" }, { name: "f", body: "f" }]) },
  { name: "directory: .dockerignore -> host file is not read", context: () => dirContext([{ name: "Dockerfile", body: GOOD }, { name: ".dockerignore", link: hostIgnore }, { name: "f", body: "f" }]) },
];

function expectOutcome(r: Ran, fails: RegExp | undefined): void {
  expect(r.out + r.err).not.toContain(SECRET);
  expect(r.err).not.toMatch(/internal error|\n\s+at /);
  if (fails) {
    expect(r.err).toMatch(fails);
    expect(r.code).toBe(2);
  } else {
    expect([r.code, r.err]).toEqual([0, expect.not.stringContaining("kiln:")]);
  }
}

describe("a context's Dockerfile never comes from the host through a symlink", () => {
  for (const form of FORMS) {
    for (const c of cases) {
      test(`${c.name} (${form})`, async () => {
        const ctx = await c.context();
        const r = await kilnIn(form, ["build", "-c", ctx, "--no-push", "--tar-path", path.join(work, `out${++n}.tar`), ...(c.args ?? [])], { cwd, env: { KILN_WORKDIR: path.join(work, `kw${n}`) } });
        expectOutcome(r, c.fails);
      }, 300_000);
    }
  }
});
