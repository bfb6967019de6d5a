// --chmod parsing (pure): octal, and symbolic modes as chmod(1) writes them. Symbolic --chmod is
// BuildKit's since dockerfile 1.14 ("COPY --chmod now allows non-octal values", moby/buildkit#5734,
// docs.docker.com/build/buildkit/dockerfile-release-notes/#1140). buildah 1.28.2 refuses it ("Error
// parsing chmod u+x"), so there is no differential test; the expected modes are those GNU chmod
// gives (checked below against the chmod binary, with umask 0 since BuildKit applies none).
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parseChmod } from "../../src/executor/copy/chmod.ts";


describe("--chmod", () => {
  // [spec, directory?, mode before, mode after]
  const cases: [string, boolean, number, number][] = [
    // octal sets the bits whatever the entry had
    ["755", false, 0o600, 0o755], ["0644", true, 0o777, 0o644], ["4755", false, 0o644, 0o4755],
    // symbolic clauses apply left to right
    ["u=rwx,g=rx,o=", false, 0o666, 0o750], ["+x", false, 0o644, 0o755], ["go-w", false, 0o666, 0o644],
    ["a=r,u+w", false, 0o777, 0o644], ["u+x,g=u", false, 0o640, 0o770], ["o=g", false, 0o750, 0o755],
    ["u-w+x", false, 0o644, 0o544], ["=", false, 0o755, 0],
    // X: execute only for directories and files some class may already execute
    ["a+X", false, 0o644, 0o644], ["a+X", false, 0o744, 0o755], ["a+X", true, 0o600, 0o711],
    ["go=rX", true, 0o700, 0o755], ["go=rX", false, 0o600, 0o644],
    // s and t: setuid/setgid need u or g, as in chmod(1)
    ["u+s", false, 0o755, 0o4755], ["g+s", false, 0o755, 0o2755], ["+t", true, 0o777, 0o1777],
    ["o+s", false, 0o755, 0o755], ["u-s", false, 0o4755, 0o755],
  ];
  test.each(cases)("%s (dir: %p) on %o", (spec, isDir, before, after) => {
    expect(parseChmod(spec)(before, isDir)).toBe(after);
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
