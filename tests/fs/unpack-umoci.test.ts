// Unpacking real images must give exactly the tree umoci gives for the same image.
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import { applyLayer } from "../../src/fs/unpack.ts";
import { baseLayouts } from "../env.ts";
import { layoutLayers } from "./layout.ts";
import { captureTree, diffTrees } from "./tree.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-umoci-`);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function requireUmoci(): void {
  const r = spawnSync("umoci", ["--version"]);
  if (r.status !== 0) throw new Error("umoci is required for this test: apt-get install umoci");
}

async function compareWithUmoci(name: string, layout: string): Promise<void> {
  requireUmoci();
  const bundle = `${work}/${name}-umoci`;
  const r = spawnSync("umoci", ["unpack", "--image", `${layout}:latest`, bundle], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`umoci unpack failed: ${r.stderr}`);
  const ours = `${work}/${name}-kiln`;
  fs.mkdirSync(ours);
  const warnings: string[] = [];
  for (const l of layoutLayers(layout)) {
    await applyLayer(ours, fs.createReadStream(l.path, { highWaterMark: 1 << 20 }), {
      mediaType: l.mediaType,
      source: l.digest,
      onWarning: (m) => warnings.push(m),
    });
  }
  expect(warnings).toEqual([]);
  const theirs = captureTree(`${bundle}/rootfs`, { mtimes: true });
  const mine = captureTree(ours, { mtimes: true });
  // The rootfs directory itself is created by each tool, not by the image.
  theirs.delete(".");
  mine.delete(".");
  expect(mine.size).toBeGreaterThan(10);
  expect(diffTrees(theirs, mine)).toEqual([]);
}

describe("applyLayer matches umoci unpack", () => {
  test("busybox", async () => {
    const { busybox } = await baseLayouts();
    await compareWithUmoci("busybox", busybox);
  });
  test("debian", async () => {
    const { debian } = await baseLayouts({ debian: true });
    await compareWithUmoci("debian", debian!);
  }, 120_000);
});
