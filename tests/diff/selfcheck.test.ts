// The differential harness checked on its own, without kiln: buildah against buildah must compare
// equal (the comparator runs end to end and reports equality), and deliberate mutations of a real
// unpacked image must each be reported (the comparator can fail).
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { buildWithBuildah, compareBuilt, diffEnv, loadCase, ALLOWLIST_FILE, type Built } from "./harness.ts";
import { loadAllowList, parseAllowList } from "./allowlist.ts";

const work = fs.mkdtempSync(join(os.tmpdir(), "kiln-diff-selfcheck-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let n = 0;
async function buildah(name: string, tamper?: (rootfs: string) => void): Promise<Built> {
  const c = loadCase(name);
  const dir = join(work, `${name}-${n++}`);
  fs.mkdirSync(dir);
  return buildWithBuildah(c, await diffEnv(false), dir, tamper);
}

// The same case twice in parallel: one plain, one to compare against (and later to tamper with).
const archives = Promise.all([buildah("add-archives"), buildah("add-archives")]);
archives.catch(() => {});

describe("diff harness self-check (buildah vs buildah)", () => {
  test("add-archives built twice: equal, and the capture sees owners, setuid, hardlinks, symlinks", async () => {
    const [a, b] = await archives;
    expect(compareBuilt("add-archives", a, b, []).failures.map((d) => d.text)).toEqual([]);
    expect(a.tree.get("/x/pkg/bin/tool")).toMatchObject({ type: "file", mode: "4755", uid: 1234, gid: 5678 });
    expect(a.tree.get("/x/pkg/hello.txt")?.group).toBe("/x/pkg/hello-hardlink");
    expect(a.tree.get("/x/pkg/hello-symlink")).toMatchObject({ type: "symlink", link: "hello.txt" });
    expect(a.tree.size).toBeGreaterThan(250);
  }, 120_000);

  test("onbuild-child (parent pushed first, ONBUILD triggers, config fields) built twice: equal", async () => {
    const [a, b] = await Promise.all([buildah("onbuild-child"), buildah("onbuild-child")]);
    expect(compareBuilt("onbuild-child", a, b, []).failures.map((d) => d.text)).toEqual([]);
    expect(a.tree.get("/app/triggered")?.type).toBe("file");
    expect(a.config.WorkingDir).toBe("/app");
  }, 120_000);

  test("a mutated image is reported, path by path and field by field", async () => {
    const [a] = await archives;
    const m = await buildah("add-archives", (root) => {
      fs.chmodSync(`${root}/x/pkg/bin/tool`, 0o755); // setuid dropped
      fs.chownSync(`${root}/plain-added`, 1, 1);
      fs.writeFileSync(`${root}/y/pkg/private/s`, "changed\n");
      fs.rmSync(`${root}/x/pkg/hello-symlink`);
      fs.writeFileSync(`${root}/extra`, "x");
      fs.rmSync(`${root}/y/pkg/hello-hardlink`); // same content, no longer a hardlink
      fs.writeFileSync(`${root}/y/pkg/hello-hardlink`, fs.readFileSync(`${root}/y/pkg/hello.txt`));
      fs.rmSync(`${root}/bin/ls`);
      fs.symlinkSync("/bin/false", `${root}/bin/ls`);
    });
    m.config = { ...a.config, Env: [...(a.config.Env ?? []), "NEW=1"], Cmd: ["other"], Labels: { ...a.config.Labels, extra: "1" }, Healthcheck: { Test: ["NONE"] } };
    const got = compareBuilt("add-archives", a, m, []).failures.map((d) => `${d.kind} ${d.key}`).sort();
    expect(got).toEqual(
      [
        "differs /x/pkg/bin/tool",
        "differs /plain-added",
        "differs /y/pkg/private/s",
        "only-buildah /x/pkg/hello-symlink",
        "only-kiln /extra",
        "differs /y/pkg/hello-hardlink",
        "differs /y/pkg/hello.txt",
        "differs /bin/ls",
        "only-kiln config.Env.NEW",
        "differs config.Cmd",
        "only-kiln config.Labels.extra",
        "only-kiln config.Healthcheck",
      ].sort(),
    );
    // An allow-list row accepts exactly its case, path and kind.
    const allow = parseAllowList("| case | path-or-field | kind | reason |\n|---|---|---|---|\n| add-archives | /extra | only-kiln | test |\n| * | /y/** | differs | test |\n| other | config.Cmd | * | test |\n");
    const left = compareBuilt("add-archives", a, m, allow).failures.map((d) => d.key);
    expect(left).not.toContain("/extra");
    expect(left).not.toContain("/y/pkg/private/s");
    expect(left).toContain("config.Cmd");
    expect(left).toContain("/x/pkg/hello-symlink");
  }, 120_000);

  test("the real allow-list accepts none of those mutations, and a row without a reason is rejected", () => {
    const list = loadAllowList(ALLOWLIST_FILE);
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) expect(e.target === "/extra" || e.target.startsWith("/x/") || e.target.startsWith("/y/")).toBe(false);
    expect(() => parseAllowList("| case | path-or-field | kind | reason |\n|---|---|---|---|\n| * | /a | differs | |\n")).toThrow(/bad row/);
    expect(() => parseAllowList("no table here")).toThrow(/no table/);
  });
});
