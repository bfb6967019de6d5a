// Build contexts: directories, dir://, local tar files, tar://stdin, --context-sub-path, -f.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { openContext } from "../../src/executor/context.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-ctx-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const src = path.join(tmp, "src");
fs.mkdirSync(path.join(src, "app/docker"), { recursive: true });
fs.writeFileSync(path.join(src, "Dockerfile"), "FROM scratch\n");
fs.writeFileSync(path.join(src, "app/Dockerfile"), "FROM app\n");
fs.writeFileSync(path.join(src, "app/docker/prod.Dockerfile"), "FROM prod\n");
fs.writeFileSync(path.join(src, "app/main.txt"), "main");
fs.writeFileSync(path.join(src, "app/.dockerignore"), "Dockerfile\n*.log\n");

function tar(out: string, flags: string[]): string {
  const r = spawnSync("tar", ["-c", ...flags, "-f", out, "-C", src, "."]);
  if (r.status !== 0) throw new Error(`GNU tar is needed (apt-get install tar): ${r.stderr}`);
  return out;
}
const tgz = tar(path.join(tmp, "ctx.tgz"), ["-z"]);
const plain = tar(path.join(tmp, "ctx.tar"), []);
let w = 0;
const work = () => path.join(tmp, `work${++w}`);

async function* chunks(file: string): AsyncGenerator<Uint8Array> {
  yield* fs.createReadStream(file, { highWaterMark: 1000 }) as AsyncIterable<Uint8Array>;
}

describe("openContext", () => {
  test("directory context with the default Dockerfile", async () => {
    const c = await openContext({ context: src, dockerfile: "Dockerfile", workDir: work() });
    expect(c.dir).toBe(fs.realpathSync(src));
    expect(c.dockerfileText).toBe("FROM scratch\n");
    expect(c.dockerfileName).toBe("Dockerfile");
    expect(c.dockerfilePath).toBe(path.join(c.dir, "Dockerfile"));
  });

  test("dir:// with a sub path; .dockerignore that excludes the Dockerfile still lets it be read", async () => {
    const c = await openContext({ context: `dir://${src}`, contextSubPath: "app", dockerfile: "Dockerfile", workDir: work() });
    expect(c.dir).toBe(path.join(fs.realpathSync(src), "app"));
    expect(c.dockerfileText).toBe("FROM app\n");
    expect(c.ignore.matches("Dockerfile")).toBe(true);
    expect(c.ignore.matches("x.log")).toBe(true);
    expect(c.ignore.matches("main.txt")).toBe(false);
  });

  test("Dockerfile relative to the context, and absolute", async () => {
    const rel = await openContext({ context: src, contextSubPath: "app", dockerfile: "docker/prod.Dockerfile", workDir: work() });
    expect(rel.dockerfileText).toBe("FROM prod\n");
    expect(rel.dockerfileName).toBe("docker/prod.Dockerfile");
    const abs = await openContext({ context: src, dockerfile: path.join(src, "app/docker/prod.Dockerfile"), workDir: work() });
    expect(abs.dockerfileText).toBe("FROM prod\n");
    expect(abs.dir).toBe(fs.realpathSync(src));
  });

  test(".tar.gz and .tar contexts are extracted into the work dir, with --context-sub-path", async () => {
    for (const file of [tgz, plain]) {
      const wd = work();
      const c = await openContext({ context: file, contextSubPath: "app", dockerfile: "Dockerfile", workDir: wd });
      expect(c.dir).toBe(path.join(fs.realpathSync(wd), "app"));
      expect(fs.readFileSync(path.join(c.dir, "main.txt"), "utf8")).toBe("main");
      expect(c.dockerfileText).toBe("FROM app\n");
    }
    const c = await openContext({ context: `tar://${tgz}`, dockerfile: "app/docker/prod.Dockerfile", workDir: work() });
    expect(c.dockerfileText).toBe("FROM prod\n");
  });

  test("tar://stdin and -f - (stdin)", async () => {
    const c = await openContext({ context: "tar://stdin", dockerfile: "Dockerfile", workDir: work(), stdin: chunks(tgz) });
    expect(c.dockerfileText).toBe("FROM scratch\n");
    const d = await openContext({ context: src, dockerfile: "-", workDir: work(), stdin: chunks(path.join(src, "app/Dockerfile")) });
    expect(d.dockerfileText).toBe("FROM app\n");
    await expect(openContext({ context: "tar://stdin", dockerfile: "-", workDir: work() })).rejects.toThrow(/cannot both come from stdin/);
  });

  test("a tar context cannot write outside its directory", async () => {
    const evil = path.join(tmp, "evil.tar");
    const side = path.join(tmp, "side");
    fs.mkdirSync(path.join(side, "d"), { recursive: true });
    fs.writeFileSync(path.join(side, "d/f"), "x");
    const r = spawnSync("tar", ["-cf", evil, "-C", side, "--transform", "s,^d/f,../../escaped,", "d/f"]);
    expect(r.status).toBe(0);
    await expect(openContext({ context: evil, dockerfile: "Dockerfile", workDir: work() })).rejects.toThrow(/climbs out/);
    expect(fs.existsSync(path.join(tmp, "escaped"))).toBe(false);
  });

  test("errors name what is missing", async () => {
    await expect(openContext({ context: src, dockerfile: "nope/Dockerfile", workDir: work() })).rejects.toThrow(/Dockerfile not found: ".*src\/nope\/Dockerfile"/);
    await expect(openContext({ context: path.join(tmp, "none"), dockerfile: "Dockerfile", workDir: work() })).rejects.toThrow(/build context ".*none" does not exist/);
    await expect(openContext({ context: src, contextSubPath: "../x", dockerfile: "Dockerfile", workDir: work() })).rejects.toThrow(/leaves the build context/);
    await expect(openContext({ context: src, contextSubPath: "missing", dockerfile: "Dockerfile", workDir: work() })).rejects.toThrow(/"missing" does not exist/);
    await expect(openContext({ context: "s3://bucket/ctx.tgz", dockerfile: "Dockerfile", workDir: work() })).rejects.toThrow(/s3:\/\/ scheme is not supported/);
  });
});
