// Overlay whiteout conversion, the fallback to walk, and mount points read from mountinfo.
import { describe, expect, test, afterAll } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import { createSnapshotter, type WrittenLayer } from "../../src/fs/snapshot.ts";
import { mountPointsToIgnore } from "../../src/fs/mountinfo.ts";
import { decompress } from "../../src/fs/compression.ts";
import { readTar } from "../../src/tar/reader.ts";
import { mount, umount2 } from "../../src/runtime/libc.ts";
import { filesystemOf, overlayUnavailable } from "../../src/fs/overlay-probe.ts";

const work = fs.mkdtempSync(`${os.tmpdir()}/kiln-fs-overlay-`);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function names(layer: WrittenLayer): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(decompress(fs.createReadStream(layer.path), layer.path))) out.push(e.header.name);
  return out;
}

describe("overlay snapshotter", () => {
  test("overlay whiteouts and opaque dirs become OCI whiteouts; the rootfs path shows the merged tree", async () => {
    const r = `${work}/ov/root`;
    fs.mkdirSync(`${r}/etc/conf.d`, { recursive: true });
    fs.writeFileSync(`${r}/etc/conf.d/old`, "o");
    fs.writeFileSync(`${r}/etc/gone`, "g");
    const s = createSnapshotter({ rootfs: r, strategy: "overlay", ignore: [], compression: "gzip", stateDir: `${work}/ov/state` });
    await s.init();
    try {
      expect(s.strategy).toBe("overlay");
      fs.rmSync(`${r}/etc/gone`);
      fs.rmSync(`${r}/etc/conf.d`, { recursive: true });
      fs.mkdirSync(`${r}/etc/conf.d`);
      fs.writeFileSync(`${r}/etc/conf.d/new`, "n");
      const layer = (await s.snapshot(`${work}/ov/out`))!;
      expect(await names(layer)).toEqual(["etc/", "etc/.wh.gone", "etc/conf.d/", "etc/conf.d/.wh..wh..opq", "etc/conf.d/new"]);
      expect(fs.readdirSync(`${r}/etc/conf.d`)).toEqual(["new"]);
      expect(await s.snapshot(`${work}/ov/out`)).toBeNull();
    } finally {
      await s.close();
    }
    expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(r);
    expect(fs.readdirSync(`${r}/etc`).sort()).toEqual(["conf.d"]);
  });

  test("auto falls back to walk with a one-line notice when the overlay cannot be mounted", async () => {
    const r = `${work}/fb,comma/root`; // overlay options cannot carry a comma
    fs.mkdirSync(r, { recursive: true });
    const notices: string[] = [];
    const s = createSnapshotter({ rootfs: r, strategy: "auto", ignore: [], compression: "gzip", stateDir: `${work}/fb,comma/state`, onNotice: (m) => notices.push(m) });
    await s.init();
    expect(s.strategy).toBe("walk");
    expect(notices.length).toBe(1);
    expect(notices[0]).toMatch(/^snapshots: walking the rootfs \(overlay unavailable: .*",", ":" or "\\", which overlay options cannot carry\)$/);
    fs.writeFileSync(`${r}/f`, "x");
    expect(await names((await s.snapshot(`${work}/fb-out`))!)).toEqual(["f"]);
  });

  test("--snapshot-mode overlay that cannot work is an error naming the flag and the reason", async () => {
    const r = `${work}/ex,comma/root`;
    fs.mkdirSync(r, { recursive: true });
    const s = createSnapshotter({ rootfs: r, strategy: "overlay", ignore: [], compression: "gzip", stateDir: `${work}/ex,comma/state` });
    await expect(s.init()).rejects.toThrow(/^--snapshot-mode overlay: overlay snapshots cannot be used here: .*overlay options cannot carry/);
  });
});

describe("where overlay snapshots can work (the probe)", () => {
  test("a workspace on tmpfs: usable, and a snapshot there works", async () => {
    const t = `${work}/tmpfs`;
    fs.mkdirSync(t);
    mount("tmpfs", t, "tmpfs", 0, "size=16m");
    try {
      expect(filesystemOf(t)).toBe("tmpfs");
      fs.mkdirSync(`${t}/root/etc`, { recursive: true });
      expect(overlayUnavailable(`${t}/root`, `${t}/state`)).toBeNull();
      const s = createSnapshotter({ rootfs: `${t}/root`, strategy: "auto", ignore: [], compression: "gzip", stateDir: `${t}/state` });
      await s.init();
      expect(s.strategy).toBe("overlay");
      fs.writeFileSync(`${t}/root/etc/x`, "x");
      expect(await names((await s.snapshot(`${t}/out`))!)).toEqual(["etc/", "etc/x"]);
      await s.close();
    } finally {
      umount2(t, 0);
    }
  });

  test("a workspace that is itself on overlayfs (nested) and the rootfs as / are refused with the reason", () => {
    const o = `${work}/nested`;
    for (const d of ["l", "u", "w", "m"]) fs.mkdirSync(`${o}/${d}`, { recursive: true });
    mount("overlay", `${o}/m`, "overlay", 0, `lowerdir=${o}/l,upperdir=${o}/u,workdir=${o}/w`);
    try {
      fs.mkdirSync(`${o}/m/root`);
      expect(overlayUnavailable(`${o}/m/root`, `${o}/m/state`)).toBe(`the workspace ${o}/m/state is itself on overlayfs (nested overlay)`);
    } finally {
      umount2(`${o}/m`, 0);
    }
    expect(overlayUnavailable("/", `${work}/st`)).toBe("the rootfs is / (in-container mode)");
  });
});

describe("mountPointsToIgnore", () => {
  test("lists mounts below a rootfs (and /proc for the real root)", () => {
    const r = `${work}/mi/root`;
    fs.mkdirSync(`${r}/var/cache x`, { recursive: true });
    mount("tmpfs", `${r}/var/cache x`, "tmpfs", 0, "size=1m");
    try {
      expect(mountPointsToIgnore(r)).toEqual(["/var/cache x"]);
      expect(mountPointsToIgnore(r + "/")).toEqual(["/var/cache x"]);
    } finally {
      umount2(`${r}/var/cache x`, 0);
    }
    expect(mountPointsToIgnore(r)).toEqual([]);
    const all = mountPointsToIgnore("/");
    expect(all).toContain("/proc");
    expect(all).not.toContain("/");
  });
});
