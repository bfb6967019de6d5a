// The one image-location parser: every form it accepts, and bad input named by flag and value
// without credentials.
import { describe, expect, test } from "bun:test";
import { formatLocation, parseImageLocation, parseRegistryLocation, redactLocation, type LocationRules } from "../../src/image/location.ts";
import { KilnError, UsageError } from "../../src/util/errors.ts";

const D = "sha256:" + "a".repeat(64);
const any: LocationRules = { what: "argument <src>" };

describe("parseImageLocation", () => {
  const good: [string, LocationRules, string][] = [
    // value, rules, the location read back by formatLocation
    ["docker://busybox", any, "docker://docker.io/library/busybox:latest"],
    ["busybox", any, "docker://docker.io/library/busybox:latest"],
    ["127.0.0.1:5000/a/b:1", any, "docker://127.0.0.1:5000/a/b:1"],
    [`docker://localhost:5000/app@${D}`, any, `docker://localhost:5000/app@${D}`],
    [`busybox@${D}`, any, `docker://docker.io/library/busybox@${D}`],
    ["oci:/x/y:tag", any, "oci:/x/y:tag"],
    ["oci:/x/y", any, "oci:/x/y"],
    ["oci:rel/dir", any, "oci:rel/dir"],
    ["oci-layout:///x/y", any, "oci:/x/y"],
    ["oci-layout:///x/y:v1.2", any, "oci:/x/y:v1.2"],
    ["oci:/a:b/c", any, "oci:/a:b/c"], // a colon followed by "/" is part of the directory
    ["oci:/run/user@1000/l:t", any, "oci:/run/user@1000/l:t"], // an "@" in a directory is no credential
    ["docker-archive:/a@b.tar", any, "docker-archive:/a@b.tar"],
    ["docker-archive:/t/img.tar", any, "docker-archive:/t/img.tar"],
    ["docker-archive:/t/img.tar:reg.io/app:2", any, "docker-archive:/t/img.tar:reg.io/app:2"],
    ["127.0.0.1:5000/app/cache", { what: "flag --cache-repo", repository: true }, "docker://127.0.0.1:5000/app/cache"],
    ["oci:/cache", { what: "flag --cache-repo", noTag: true }, "oci:/cache"],
  ];
  for (const [value, rules, want] of good) {
    test(`${value} → ${want}`, () => expect(formatLocation(parseImageLocation(value, rules))).toBe(want));
  }

  const bad: [string, LocationRules, RegExp][] = [
    ["", any, /^argument <src>: "": invalid image reference "": empty$/],
    ["", { what: "argument <dst>", accept: ["oci", "docker-archive"] }, /^argument <dst>: "": empty; want oci:DIR\[:TAG\], docker-archive:FILE\[:REF\]$/],
    ["a:b:c@@", any, /^argument <src>: a:b:c@@: invalid image reference "a:b:c@@": bad digest/],
    ["oci:", any, /^argument <src>: oci:: oci: needs a directory$/],
    ["oci-layout://", any, /oci-layout:\/\/ needs a directory/],
    ["oci:/x:", any, /^argument <src>: oci:\/x:: empty :TAG$/],
    ["docker-archive:", any, /docker-archive: needs a file/],
    ["docker-archive:/t.tar:Bad Ref", any, /^argument <src>: docker-archive:\/t.tar:Bad Ref: invalid image reference "Bad Ref"/],
    ["Bad Ref!!", { what: "flag --destination" }, /^flag --destination: Bad Ref!!: invalid image reference "Bad Ref!!"/],
    ["docker://h.io/UPPER", any, /^argument <src>: docker:\/\/h.io\/UPPER: invalid image reference "h.io\/UPPER": repository name must be lowercase$/],
    ["containers-storage:busybox", any, /the containers-storage: transport is not supported/],
    ["docker-daemon:busybox:latest", any, /the docker-daemon: transport is not supported/],
    ["oci:/x", { what: "flag --destination", accept: ["registry"] }, /^flag --destination: oci:\/x: an OCI layout is not accepted here; want docker:\/\/REF or REF$/],
    ["docker-archive:/t.tar", { what: "argument <src>", accept: ["registry", "oci"] }, /a docker archive is not accepted here; want docker:\/\/REF or REF, oci:DIR\[:TAG\]$/],
    ["busybox", { what: "argument <dst>", accept: ["oci"] }, /^argument <dst>: busybox: want oci:DIR\[:TAG\]$/],
    ["h:5000/cache:v1", { what: "flag --cache-repo", repository: true }, /^flag --cache-repo: h:5000\/cache:v1: invalid repository "h:5000\/cache:v1": must not have a tag/],
    ["oci:/cache:v1", { what: "flag --cache-repo", noTag: true }, /^flag --cache-repo: oci:\/cache:v1: takes no :TAG/],
  ];
  for (const [value, rules, want] of bad) {
    test(`bad: "${value}" (${rules.what})`, () => {
      expect(() => parseImageLocation(value, rules)).toThrow(want);
      expect(() => parseImageLocation(value, rules)).toThrow(UsageError);
    });
  }

  test("a base image (FROM) fails with exit 1, not as a usage error", () => {
    let err: unknown;
    try {
      parseImageLocation("Bad Ref", { what: "base image", usage: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect(err).not.toBeInstanceOf(UsageError);
    expect((err as KilnError).exitCode).toBe(1);
  });

  test("parseRegistryLocation returns the reference", () => {
    expect(parseRegistryLocation("docker://h:1/a:t", { what: "x" }).toString()).toBe("h:1/a:t");
    expect(() => parseRegistryLocation("oci:/d", { what: "flag --image" })).toThrow(/flag --image: oci:\/d: an OCI layout is not accepted here/);
  });
});

describe("credentials are refused and never printed", () => {
  const cases: [string, string][] = [
    ["user:s3cret@127.0.0.1:5000/app:1", "***@127.0.0.1:5000/app:1"],
    ["docker://user:s3cret@host.io/app", "docker://***@host.io/app"],
    [`user:s3cret@host.io/app@${D}`, `***@host.io/app@${D}`],
    ["user:p@ss/w0rd@host.io/app", "***@host.io/app"],
    ["user:s3cret@host.io", "***@host.io"],
    ["docker-archive:/t.tar:user:s3cret@host.io/app:1", "docker-archive:/t.tar:***@host.io/app:1"],
  ];
  for (const [value, shown] of cases) {
    test(value.replace(/s3cret|p@ss\/w0rd/, "…"), () => {
      let msg = "";
      try {
        parseImageLocation(value, { what: "flag --destination" });
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toContain("flag --destination: ");
      expect(msg).toContain("credentials do not belong");
      expect(msg).not.toMatch(/s3cret|w0rd|user/);
      expect(msg).toContain(`: ${shown}: `);
    });
  }

  test("redactLocation leaves digests, ports and clean references alone", () => {
    for (const s of [`busybox@${D}`, "h:5000/a/b:1", `docker://h:5000/a@${D}`, "oci:/x/y:t", "user@host:5000"]) {
      expect(redactLocation(s)).toBe(s === "user@host:5000" ? "***@host:5000" : s);
    }
  });
});
