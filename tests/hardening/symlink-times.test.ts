// Directory times are applied after every entry of an archive is written; by then a later entry may
// have replaced the directory (or a parent of it) with a symlink to a host directory. The times
// must land on the directory the archive created, never through that symlink on the host. Applied
// as a base layer, as an ADD archive and as a `--context x.tar`, in-process and through the CLI in
// each form kiln ships in (the base layer as `FROM oci-layout://…`).
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { applyLayer } from "../../src/fs/unpack.ts";
import { copyInto } from "../../src/executor/copy/index.ts";
import { FORMS, kilnIn } from "./forms.ts";
import { tarOf, type TarEntrySpec as E } from "./tar-of.ts";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-hard-times-"));
fs.chmodSync(work, 0o755);
const rootfs = path.join(work, "rootfs");
const ctx = path.join(work, "ctx");
// The host directories a hostile archive aims at, with known times.
const host = path.join(work, "host");
const HOST_TIME = 1_500_000_000;
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));


beforeEach(() => {
  for (const d of [rootfs, ctx, host]) fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(rootfs);
  fs.mkdirSync(ctx);
  fs.mkdirSync(path.join(host, "sub"), { recursive: true });
  for (const d of [host, path.join(host, "sub")]) fs.utimesSync(d, HOST_TIME, HOST_TIME);
});

const mtime = (p: string) => Math.floor(fs.lstatSync(p).mtimeMs / 1000);

function expectHostUntouched(): void {
  expect([mtime(host), mtime(path.join(host, "sub"))]).toEqual([HOST_TIME, HOST_TIME]);
  expect(fs.readdirSync(host)).toEqual(["sub"]);
}

// [name, entries]: each ends with a symlink to `host` where the archive earlier made a directory
// with mtime 1.
const cases: [string, () => E[]][] = [
  ["a directory, then a symlink of the same name", () => [{ name: "d/", type: "dir", mode: 0o755, mtime: 1 }, { name: "d", type: "symlink", linkname: host }]],
  ["a parent directory replaced by a symlink", () => [
    { name: "a/", type: "dir", mode: 0o755, mtime: 1 },
    { name: "a/sub/", type: "dir", mode: 0o755, mtime: 1 },
    { name: "a", type: "symlink", linkname: host },
  ]],
  ["a relative symlink climbing out", () => [{ name: "d/", type: "dir", mode: 0o755, mtime: 1 }, { name: "d", type: "symlink", linkname: "../".repeat(20) + host.slice(1) }]],
];

async function apply(target: "layer" | "add", entries: E[]): Promise<void> {
  const tar = await tarOf(entries);
  if (target === "layer") {
    await applyLayer(rootfs, (async function* () { yield tar; })(), { mediaType: "application/vnd.oci.image.layer.v1.tar", source: "sha256:times", onWarning: () => {} });
  } else {
    fs.writeFileSync(path.join(ctx, "evil.tar"), tar);
    await copyInto({ rootfs, sourceRoot: ctx, sources: ["evil.tar"], dest: "/", workdir: "/", isAdd: true });
  }
}

describe("directory times never reach the host through a symlink", () => {
  for (const target of ["layer", "add"] as const) {
    for (const [name, entries] of cases) {
      test(`${target}: ${name}`, async () => {
        await apply(target, entries());
        expectHostUntouched();
        expect(fs.lstatSync(path.join(rootfs, entries()[0]!.name.replace(/\/$/, ""))).isSymbolicLink()).toBe(true);
      });
    }

    test(`${target}: directories that stay directories still get their times`, async () => {
      await apply(target, [{ name: "d/", type: "dir", mode: 0o755, mtime: 7 }, { name: "d/e/", type: "dir", mode: 0o755, mtime: 8 }, { name: "d/e/f", body: "x", mtime: 9 }]);
      expect([mtime(path.join(rootfs, "d")), mtime(path.join(rootfs, "d/e")), mtime(path.join(rootfs, "d/e/f"))]).toEqual([7, 8, 9]);
    });
  }

  for (const form of FORMS) {
    test(`--context x.tar (${form})`, async () => {
      const tar = path.join(work, `ctx-${form}.tar`);
      fs.writeFileSync(tar, await tarOf([{ name: "Dockerfile", body: "FROM scratch\nCOPY f /f\n" }, { name: "f", body: "f" }, ...cases[0]![1](), ...cases[1]![1]()]));
      const r = await kilnIn(form, ["build", "-c", tar, "--no-push", "--oci-layout-path", path.join(work, `out-${form}`)], { cwd: work, env: { KILN_WORKDIR: path.join(work, `kw-${form}`) } });
      expect([r.code, r.err]).toEqual([0, expect.not.stringContaining("kiln:")]);
      expectHostUntouched();
    }, 300_000);
  }

  /** An OCI layout whose only layer is `layer` (uncompressed), for `FROM oci-layout://DIR`. */
  function layoutWith(dir: string, layer: Uint8Array): void {
    const blob = (b: Uint8Array | string) => {
      const hex = createHash("sha256").update(b).digest("hex");
      fs.mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true });
      fs.writeFileSync(path.join(dir, "blobs", "sha256", hex), b);
      return { digest: `sha256:${hex}`, size: typeof b === "string" ? Buffer.byteLength(b) : b.length };
    };
    const l = blob(layer);
    const config = blob(JSON.stringify({ architecture: process.arch === "arm64" ? "arm64" : "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [l.digest] } }));
    const manifest = blob(JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...l }],
    }));
    fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest }] }));
  }

  for (const form of FORMS) {
    test(`base layer: FROM oci-layout:// (${form})`, async () => {
      const layout = path.join(work, `base-${form}`);
      layoutWith(layout, await tarOf([{ name: "etc/", type: "dir", mode: 0o755 }, ...cases[0]![1](), ...cases[1]![1]()]));
      const ctxDir = path.join(work, `base-ctx-${form}`);
      fs.mkdirSync(ctxDir);
      fs.writeFileSync(path.join(ctxDir, "Dockerfile"), `FROM oci-layout://${layout}\nCOPY f /f\n`);
      fs.writeFileSync(path.join(ctxDir, "f"), "f");
      const r = await kilnIn(form, ["build", "-c", ctxDir, "--no-push", "--tar-path", path.join(work, `base-out-${form}.tar`)], { cwd: work, env: { KILN_WORKDIR: path.join(work, `base-kw-${form}`) } });
      expect([r.code, r.err]).toEqual([0, expect.not.stringContaining("kiln:")]);
      expectHostUntouched();
    }, 300_000);
  }
});
