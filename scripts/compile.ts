// Builds the single kiln executable with `bun build --compile`, embedding version and commit.
// Usage: bun scripts/compile.ts [--target bun-linux-x64|bun-linux-arm64|bun-linux-x64-musl] [--outfile PATH]
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const target = opt("--target");
const arch = target?.includes("arm64") ? "arm64" : "x64";
const outfile = opt("--outfile") ?? join(root, "dist", `kiln-linux-${arch}${target?.includes("musl") ? "-musl" : ""}`);
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
} catch { /* not a git checkout: keep "unknown" */ }

const bun = join(root, "node_modules", ".bin", "bun");
const cmd = [
  "build", "--compile", "--minify-syntax", "--minify-whitespace",
  ...(target ? [`--target=${target}`] : []),
  `--define`, `KILN_VERSION=${JSON.stringify(version)}`,
  `--define`, `KILN_COMMIT=${JSON.stringify(commit)}`,
  join(root, "mod.ts"), "--outfile", outfile,
];
const r = spawnSync(bun, cmd, { stdio: "inherit", cwd: root });
if (r.status !== 0) {
  console.error(`compile failed (bun ${cmd.join(" ")})`);
  process.exit(r.status ?? 1);
}
console.log(outfile);
