// The runner against a real Debian rootfs: apt-get must work through it (network to the Debian
// mirror, DNS from the host's resolv.conf, the _apt sandbox user, /dev/null, /proc...).
import { afterAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInRootfs } from "../../src/run/index.ts";
import { baseLayouts } from "../env.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Unpack the single layer of the cached Debian OCI layout with GNU tar (fine for a runner test). */
async function debianRootfs(): Promise<string> {
  const layout = (await baseLayouts({ debian: true })).debian!;
  const blob = (digest: string) => join(layout, "blobs", ...digest.split(":"));
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
  const root = mkdtempSync(join(tmpdir(), "kiln-runner-debian-"));
  dirs.push(root);
  chmodSync(root, 0o755);
  for (const layer of manifest.layers) execFileSync("tar", ["-xzf", blob(layer.digest), "-C", root, "--numeric-owner", "--xattrs"]);
  return root;
}

test("apt-get update && apt-get install -y curl through the runner", async () => {
  const rootfs = await debianRootfs();
  let out = "";
  const r = await runInRootfs({
    rootfs,
    argv: ["/bin/sh", "-c", "apt-get update -q && apt-get install -y -q --no-install-recommends curl && curl --version"],
    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive"],
    cwd: "/",
    onOutput: (c) => (out += new TextDecoder().decode(c)),
  });
  if (r.exitCode !== 0) console.error(out);
  expect(r).toEqual({ exitCode: 0, mountsUsed: true, syncSuppressed: true });
  expect(out).toMatch(/^curl \d+\.\d+/m);
}, 300_000);
