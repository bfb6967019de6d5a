// --chmod parsing (pure): octal, and symbolic modes as chmod(1) writes them. Symbolic --chmod is
// BuildKit's since dockerfile 1.14 ("COPY --chmod now allows non-octal values", moby/buildkit#5734,
// docs.docker.com/build/buildkit/dockerfile-release-notes/#1140). buildah 1.28 accepts octal only,
// so there is no differential test; the expected modes are those GNU chmod gives (checked below
// against the chmod binary when it is installed, with umask 0 since BuildKit applies none).
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parseChmod } from "../../src/executor/copy/chmod.ts";

const file = (spec: string, mode: number) => parseChmod(spec)(mode, false);
const dir = (spec: string, mode: number) => parseChmod(spec)(mode, true);

describe("--chmod", () => {
  test("octal sets the bits whatever the entry had", () => {
    expect(file("755", 0o600)).toBe(0o755);
    expect(dir("0644", 0o777)).toBe(0o644);
    expect(file("4755", 0o644)).toBe(0o4755);
  });

  test("symbolic clauses apply left to right", () => {
    expect(file("u=rwx,g=rx,o=", 0o666)).toBe(0o750);
    expect(file("+x", 0o644)).toBe(0o755);
    expect(file("go-w", 0o666)).toBe(0o644);
    expect(file("a=r,u+w", 0o777)).toBe(0o644);
    expect(file("u+x,g=u", 0o640)).toBe(0o770);
    expect(file("o=g", 0o750)).toBe(0o755);
    expect(file("u-w+x", 0o644)).toBe(0o544);
    expect(file("=", 0o755)).toBe(0);
  });

  test("X: execute only for directories and files some class may already execute", () => {
    expect(file("a+X", 0o644)).toBe(0o644);
    expect(file("a+X", 0o744)).toBe(0o755);
    expect(dir("a+X", 0o600)).toBe(0o711);
    expect(dir("go=rX", 0o700)).toBe(0o755);
    expect(file("go=rX", 0o600)).toBe(0o644);
  });

  test("s and t", () => {
    expect(file("u+s", 0o755)).toBe(0o4755);
    expect(file("g+s", 0o755)).toBe(0o2755);
    expect(dir("+t", 0o777)).toBe(0o1777);
    expect(file("o+s", 0o755)).toBe(0o755); // setuid/setgid need u or g, as in chmod(1)
    expect(file("u-s", 0o4755)).toBe(0o755);
  });

  test("bad values are errors naming the flag and the clause", () => {
    for (const bad of ["", "u+q", "z+x", "u", "u+x,", "8", "07777x", "+rwu", "u=gx"]) {
      expect(() => parseChmod(bad), bad).toThrow(/^--chmod=/);
    }
    expect(() => parseChmod("u+x,k=r")).toThrow(/--chmod=u\+x,k=r: invalid mode "k=r"/);
  });

  test("matches GNU chmod (umask 0) on real files", () => {
    const chmod = spawnSync("chmod", ["--version"], { encoding: "utf8" });
    if (chmod.status !== 0 || !/GNU coreutils/.test(chmod.stdout)) {
      console.warn("skipped: GNU chmod not installed (apt-get install coreutils)");
      return;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-chmod-"));
    try {
      const specs = ["u=rwx,go=rX", "u+x,go+X", "u=rwx,g=rx,o=", "+x", "go-w", "a=r,u+w", "a+X", "go=rX", "u+x,g=u", "o=g", "g+s,o-rwx", "u-w+x", "ug=rw,o=r"];
      for (const start of [0o644, 0o600, 0o755, 0o700, 0o4711]) {
        for (const spec of specs) {
          for (const isDir of [false, true]) {
            const p = path.join(tmp, isDir ? "d" : "f");
            if (isDir) fs.mkdirSync(p);
            else fs.writeFileSync(p, "");
            fs.chmodSync(p, start);
            const r = spawnSync("sh", ["-c", `umask 0; chmod '${spec}' '${p}'`]);
            expect(r.status).toBe(0);
            const want = fs.statSync(p).mode & 0o7777;
            expect([spec, start.toString(8), isDir, parseChmod(spec)(start, isDir).toString(8)]).toEqual([spec, start.toString(8), isDir, want.toString(8)]);
            fs.rmSync(p, { recursive: true, force: true });
          }
        }
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
