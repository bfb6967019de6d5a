// Seed inputs for the fuzz targets, from the project's own corpora: archives made by our writer,
// GNU tar and Python of the crafted tar corpus (tests/tar/corpus.ts, without its big files), the
// malformed Dockerfiles of tests/hardening, the Dockerfiles of tests/diff and examples, and
// BuildKit's parser and lexer conformance data (../shared) when it is there.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerfileCases } from "../hardening/dockerfile-cases.ts";
import { tarOf } from "../hardening/tar-of.ts";
import { craftedTree } from "../tar/corpus.ts";
import { python, run } from "../tar/peers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUILDKIT = join(ROOT, "..", "shared", "conformance", "buildkit");

export interface Seeds<T> {
  inputs: T[];
  /** Corpora that were not available, with why (printed by the callers, never silent). */
  missing: string[];
}


const bytes = (s: string) => new TextEncoder().encode(s);

/** Tar archives: always the writer's; the crafted corpus's when root, tar and python3 are there. */
export async function tarSeeds(): Promise<Seeds<Uint8Array>> {
  const inputs: Uint8Array[] = [
    await tarOf([
      { name: "d/", type: "dir", mode: 0o755 },
      { name: "d/f", body: bytes("hello\n") },
      { name: "d/l", type: "symlink", linkname: "f" },
      { name: "d/h", type: "hardlink", linkname: "d/f" },
      { name: "dev/null", type: "char", devmajor: 1, devminor: 3 },
      { name: "fifo", type: "fifo" },
    ]),
    await tarOf([
      { name: "x".repeat(150) + "/" + "y".repeat(120), body: bytes("long path") },
      { name: "link", type: "symlink", linkname: "t".repeat(300) },
      { name: "big-ids", uid: 3_000_000_000, gid: 3_000_000_001, body: bytes("ids") },
      { name: "caps", body: bytes("x"), xattrs: new Map([["security.capability", new Uint8Array([1, 0, 0, 2, 0, 4])], ["user.k", bytes("v=\n")]]) },
      { name: "times", atime: 1.5, mtime: -86400, body: bytes("t") },
      { name: "héllo-日本語", body: bytes("utf8") },
    ]),
    await tarOf([{ name: "empty" }, { name: "512", body: new Uint8Array(512).fill(7) }, { name: "513", body: new Uint8Array(513).fill(9) }]),
  ];
  const missing: string[] = [];
  try {
    const { dir, tree } = craftedTree();
    const out = (n: string) => join(dir, `fuzz-seed-${n}.tar`);
    const skip = ["--exclude=sparse", "--exclude=random.bin"];
    run("tar", ["--format=gnu", ...skip, "-cf", out("gnu"), "-C", tree, "crafted"]);
    run("tar", ["--format=pax", "--xattrs", "--xattrs-include=*", ...skip, "-cf", out("pax"), "-C", tree, "crafted"]);
    run("tar", ["--format=ustar", ...skip, "-cf", out("ustar"), "-C", tree, "crafted/basic"]);
    run("tar", ["--format=v7", "-cf", out("v7"), "-C", tree, "crafted/v7"]);
    python(
      `
import sys, tarfile, os
os.chdir(sys.argv[1])
skip = lambda t: None if t.name.endswith(("/sparse", "/random.bin")) else t
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "kiln"}) as tf: tf.add("crafted", filter=skip)
with tarfile.open(sys.argv[3], "w", format=tarfile.GNU_FORMAT) as tf: tf.add("crafted", filter=skip)
`,
      [tree, out("py-pax"), out("py-gnu")],
    );
    for (const n of ["gnu", "pax", "ustar", "v7", "py-pax", "py-gnu"]) inputs.push(new Uint8Array(readFileSync(out(n))));
  } catch (e) {
    missing.push(`crafted tar corpus (tests/tar/corpus.ts): ${(e as Error).message.split("\n")[0]}`);
  }
  return { inputs, missing };
}

function dockerfilesUnder(dir: string, depth = 0): string[] {
  if (depth > 4 || !existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...dockerfilesUnder(p, depth + 1));
    else if (/^Dockerfile/.test(e.name) && statSync(p).size < 64 * 1024) out.push(readFileSync(p, "utf8"));
  }
  return out;
}

/** Dockerfiles: the hardening cases, tests/diff and examples, BuildKit's parser cases. */
export function dockerfileSeeds(): Seeds<string> {
  const inputs = [...dockerfileCases.map(([, text]) => text), ...dockerfilesUnder(join(ROOT, "tests", "diff")), ...dockerfilesUnder(join(ROOT, "examples"))];
  const missing: string[] = [];
  if (existsSync(join(BUILDKIT, "parser"))) inputs.push(...dockerfilesUnder(join(BUILDKIT, "parser")));
  else missing.push(`BuildKit parser cases (${BUILDKIT}/parser not found)`);
  return { inputs, missing };
}

/** Shell words: BuildKit's lexer tables (the input column), plus words from the Dockerfile seeds. */
export function wordSeeds(): Seeds<string> {
  const inputs = ["$A ${B:-x} '${C}' \"$D\"", "${A:?err}", "${A/b/c} ${A%%.*} ${A#*/}", "a\\ b `c` \\$d", "${}", "$"];
  const missing: string[] = [];
  for (const table of ["envVarTest", "wordsTest"]) {
    const file = join(BUILDKIT, "shell", table);
    if (!existsSync(file)) {
      missing.push(`BuildKit lexer table ${file}`);
      continue;
    }
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      const fields = line.split("|");
      if (fields.length >= 2) inputs.push(fields[fields.length === 2 ? 0 : 1]!.trim());
    }
  }
  return { inputs, missing };
}
