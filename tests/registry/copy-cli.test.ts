// `kiln copy` end to end, on Bun and on Deno (Deno must honour the TLS options too).
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImages, registry, tlsRegistry } from "../env.ts";
import { kilnCommand, runtimes } from "./kiln-runtimes.ts";
import { skopeo } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-copy-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

const kiln = kilnCommand("copy");

describe("kiln copy", async () => {
  const reg = await registry();
  const tls = await tlsRegistry();
  const refs = await baseImages();
  const srcDigest = JSON.parse(skopeo("inspect", "--tls-verify=false", `docker://${refs.busyboxV2s2}`)).Digest;

  for (const rt of Object.keys(runtimes)) {
    test(`${rt}: docker → docker keeps the digest, → oci, → docker-archive; TLS options`, () => {
      const a = kiln(rt, `docker://${refs.busyboxV2s2}`, `docker://${reg.host}/copy/${rt}:v2s2`);
      expect(a).toMatchObject({ code: 0, out: srcDigest });
      const layout = join(tmp, `layout-${rt}`);
      const b = kiln(rt, `docker://${reg.host}/copy/${rt}:v2s2`, `oci:${layout}:x`);
      expect(b.code).toBe(0);
      expect(JSON.parse(skopeo("inspect", `oci:${layout}:x`)).Digest).toBe(b.out);
      const c = kiln(rt, `oci:${layout}:x`, `docker://${reg.host}/copy/${rt}:oci`);
      expect(c).toMatchObject({ code: 0, out: b.out });
      const tar = join(tmp, `${rt}.tar`);
      const d = kiln(rt, `docker://${reg.host}/copy/${rt}:oci`, `docker-archive:${tar}`);
      expect(d.code).toBe(0);
      expect(JSON.parse(skopeo("inspect", `docker-archive:${tar}`)).Digest).toMatch(/^sha256:/);
      const manifestJson = spawnSync("tar", ["-xOf", tar, "manifest.json"], { encoding: "utf8" }).stdout;
      expect(JSON.parse(manifestJson)[0].RepoTags).toEqual([`${reg.host}/copy/${rt}:oci`]);

      const dst = `docker://${tls.host}/copy/${rt}:tls`;
      const noCa = kiln(rt, "--secure-loopback", `oci:${layout}:x`, dst);
      expect(noCa.code).toBe(1);
      expect(noCa.err).toContain(`kiln: cannot reach registry ${tls.host}`);
      expect(kiln(rt, "--secure-loopback", "--registry-certificate", `${tls.host}=${tls.caFile}`, `oci:${layout}:x`, dst)).toMatchObject({ code: 0, out: b.out });
      expect(kiln(rt, "--secure-loopback", "--skip-tls-verify", `oci:${layout}:x`, dst)).toMatchObject({ code: 0, out: b.out });
    });
  }

  test("bad locations are usage errors naming the argument; credentials are never printed", () => {
    const cases: [string[], string][] = [
      [[`docker-archive:${tmp}/a.tar`, `oci:${tmp}/x`], `kiln: argument <src>: docker-archive:${tmp}/a.tar: a docker archive is not accepted here`],
      [[`${reg.host}/copy/none:1`, "oci:"], "kiln: argument <dst>: oci:: oci: needs a directory"],
      [["containers-storage:busybox", `oci:${tmp}/x`], "kiln: argument <src>: containers-storage:busybox: the containers-storage: transport is not supported"],
      [[`docker://bob:hunter2@${reg.host}/copy/x:1`, `oci:${tmp}/x`], `kiln: argument <src>: docker://***@${reg.host}/copy/x:1: credentials do not belong`],
      [[`oci:${tmp}/x`, `bob:hunter2@${reg.host}/copy/x:1`], `kiln: argument <dst>: ***@${reg.host}/copy/x:1: credentials do not belong`],
    ];
    for (const [args, want] of cases) {
      const r = kiln("bun", ...args);
      expect(r.code).toBe(2);
      expect(r.err.split("\n")[0]).toStartWith(want);
      expect(r.err).not.toContain("hunter2");
    }
    expect(existsSync(join(tmp, "x"))).toBe(false); // nothing written
  });

  test("a plain reference is a registry source", () => {
    const layout = join(tmp, "plain");
    const r = kiln("bun", refs.busyboxV2s2, `oci:${layout}:p`);
    expect(r.code).toBe(0);
    expect(JSON.parse(skopeo("inspect", `oci:${layout}:p`)).Digest).toBe(r.out);
  });
});
