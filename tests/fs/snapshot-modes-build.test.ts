// End to end in both snapshot modes: the same Dockerfiles (RUN through the real runner, COPY,
// WORKDIR, VOLUME, multi-stage) built with --snapshot-mode walk and overlay must give the same
// image digest with --reproducible; "auto" says once why it walks when it does; no overlay mount
// outlives a build, a failed one included. CI runs the rest of the suite in "auto" (the overlay
// there), and this file plus tests/fs/snapshot-modes.test.ts keep the walk equal to it.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseLayouts } from "../env.ts";
import { buildIn, tempDir } from "../executor/stage-harness.ts";
import { overlayUnavailable } from "../../src/fs/overlay-probe.ts";

const tmp = tempDir("kiln-snapshot-modes-build-");
let n = 0;
function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, `ctx${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [k, v] of Object.entries(files)) {
    mkdirSync(join(dir, k, ".."), { recursive: true });
    writeFileSync(join(dir, k), v);
  }
  return dir;
}

// Overlay needs root and a filesystem that allows it (CI: root on ext4); elsewhere skipped with the reason.
const unavailable = overlayUnavailable(tmp, tmp);
if (unavailable) console.error(`snapshot-modes-build: overlay cases skipped, overlay unavailable: ${unavailable}`);

// Overlay mounts of kiln's snapshotter (its upper dirs live in "kiln-overlay-*" state dirs).
const mounts = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes("/kiln-overlay-")).length;

const BUSYBOX_STEPS = [
  "RUN mkdir -p /app/keep /app/gone && echo k > /app/keep/k && echo g > /app/gone/g && ln /bin/busybox /app/bb-link",
  "COPY a.txt /app/a.txt",
  "COPY dir/ /app/",
  "RUN chmod 700 /app/keep && chown 1:1 /app/a.txt && touch -d @1000 /app/keep/k && rm -rf /app/gone && rm /etc/group && echo 'root:x:0:' > /etc/group",
  "RUN mkdir /etc/new.d && echo x > /etc/new.d/x && rm -rf /etc/new.d && mkdir /etc/new.d && echo y > /etc/new.d/y && mkfifo /app/fifo && ln -s /nowhere /app/dangling",
  "RUN echo more >> /app/bb-link.txt; rm -f /app/bb-link; ln /app/a.txt /app/a-link && echo appended >> /app/a.txt",
  "WORKDIR /srv/work",
  "VOLUME /data",
  "RUN echo inside > /data/f && echo out > /out && mkdir -p /var/run/x && echo 1 > /var/run/x/pid",
];

// Skipped only where overlayfs cannot be mounted (no CAP_SYS_ADMIN, a workspace on overlayfs):
// there is no overlay snapshot to compare with the walk. The reason is printed above; CI runs as
// root on ext4, where the overlay mounts and these run.
describe.skipIf(unavailable !== null)("walk and overlay builds give the same image", () => {
  test("busybox: RUN, COPY, WORKDIR, VOLUME, hard links, whiteouts, opaque dirs", async () => {
    const base = `oci-layout://${(await baseLayouts()).busybox}:latest`;
    const ctx = context(`FROM ${base}\n${BUSYBOX_STEPS.join("\n")}\n`, { "a.txt": "a\n", "dir/sub/s.txt": "s\n", "dir/top.txt": "t\n" });
    const walk = await buildIn(ctx, { snapshotMode: "walk" });
    const ov = await buildIn(ctx, { snapshotMode: "overlay" });
    expect(ov.image.layers.map((l) => l.digest)).toEqual(walk.image.layers.map((l) => l.digest));
    expect(ov.digest).toBe(walk.digest);
    expect(walk.image.layers.length).toBeGreaterThan(5);
    expect(mounts()).toBe(0);
  }, 120_000);

  test("multi-stage: COPY --from a stage built with the overlay, and --single-snapshot", async () => {
    const base = `oci-layout://${(await baseLayouts()).busybox}:latest`;
    const ctx = context(`FROM ${base} AS b\nRUN mkdir /out && echo built > /out/x && rm /bin/vi\nFROM ${base}\nCOPY --from=b /out /out\nRUN rm -rf /usr/share && cat /out/x > /seen\n`);
    for (const singleSnapshot of [false, true]) {
      const walk = await buildIn(ctx, { snapshotMode: "walk", singleSnapshot });
      const ov = await buildIn(ctx, { snapshotMode: "overlay", singleSnapshot });
      expect(ov.digest).toBe(walk.digest);
    }
    expect(mounts()).toBe(0);
  }, 120_000);

  test("debian: package-manager-like changes (many files, dpkg's renames, hard-linked files)", async () => {
    const base = `oci-layout://${(await baseLayouts({ debian: true })).debian}:latest`;
    const ctx = context(`FROM ${base}\nRUN rm -rf /usr/share/doc /var/lib/apt/lists/* && cp -a /usr/lib /usr/lib.copy && mv /usr/lib.copy /opt/lib && chmod -R go-w /etc && chown -R 1000:1000 /home && sed -i s/root/ROOT/ /etc/passwd\nRUN rm -rf /opt/lib/x86_64-linux-gnu && touch /etc/hostname\n`);
    const walk = await buildIn(ctx, { snapshotMode: "walk" });
    const ov = await buildIn(ctx, { snapshotMode: "overlay" });
    expect(ov.image.layers.map((l) => l.digest)).toEqual(walk.image.layers.map((l) => l.digest));
    expect(mounts()).toBe(0);
  }, 300_000);

  test("auto uses the overlay silently; a failed RUN leaves no mount behind", async () => {
    const base = `oci-layout://${(await baseLayouts()).busybox}:latest`;
    const ok = await buildIn(context(`FROM ${base}\nRUN echo x > /x\n`), { snapshotMode: "auto" });
    expect(ok.lines.filter((l) => l.includes("snapshots:"))).toEqual([]);
    await expect(buildIn(context(`FROM ${base}\nRUN echo x > /x\nRUN echo y > /y && false\n`), { snapshotMode: "overlay" })).rejects.toThrow(/non-zero code: 1/);
    expect(mounts()).toBe(0);
  }, 120_000);
});

test("auto in a rootfs that cannot carry an overlay walks, and says why once per build", async () => {
  const base = `oci-layout://${(await baseLayouts()).busybox}:latest`;
  // Two stages, and KILN_WORKDIR-like state under a path overlay options cannot name.
  const ctx = context(`FROM ${base} AS a\nRUN echo a > /a\nFROM ${base}\nCOPY --from=a /a /a\nRUN echo b > /b\n`);
  const prev = process.env.KILN_WORKDIR;
  const odd = join(tmp, "odd,dir");
  mkdirSync(odd);
  process.env.KILN_WORKDIR = odd;
  try {
    const r = await buildIn(ctx, { snapshotMode: "auto" });
    const notes = r.lines.filter((l) => l.includes("snapshots: walking the rootfs (overlay unavailable: "));
    expect(notes.length).toBe(1);
  } finally {
    if (prev === undefined) delete process.env.KILN_WORKDIR;
    else process.env.KILN_WORKDIR = prev;
  }
}, 120_000);
