import { describe, expect, test } from "bun:test";
import { parseReference, parseRepository } from "../../src/image/reference.ts";
import { KilnError } from "../../src/util/errors.ts";

const D = "sha256:" + "a".repeat(64);

describe("parseReference", () => {
  const cases: [string, string, string, string | undefined, string | undefined][] = [
    ["busybox", "docker.io", "library/busybox", "latest", undefined],
    ["busybox:1.36", "docker.io", "library/busybox", "1.36", undefined],
    ["user/app", "docker.io", "user/app", "latest", undefined],
    ["index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", undefined],
    ["ghcr.io/org/team/app:v1", "ghcr.io", "org/team/app", "v1", undefined],
    ["localhost/app", "localhost", "app", "latest", undefined],
    ["localhost:5000/app:x", "localhost:5000", "app", "x", undefined],
    ["127.0.0.1:5000/a/b@" + D, "127.0.0.1:5000", "a/b", undefined, D],
    ["host:5000/repo:tag@" + D, "host:5000", "repo", "tag", D],
    ["[::1]:5000/app", "[::1]:5000", "app", "latest", undefined],
    ["my_org/app__x-y.z", "docker.io", "my_org/app__x-y.z", "latest", undefined],
  ];
  for (const [input, registry, repository, tag, digest] of cases) {
    test(input, () => {
      const r = parseReference(input);
      expect([r.registry, r.repository, r.tag, r.digest]).toEqual([registry, repository, tag, digest]);
    });
  }

  test("toString, familiar, context", () => {
    const r = parseReference("busybox");
    expect(r.toString()).toBe("docker.io/library/busybox:latest");
    expect(r.familiar()).toBe("busybox:latest");
    expect(r.context()).toBe("docker.io/library/busybox");
    expect(parseReference("h:1/a:t@" + D).toString()).toBe(`h:1/a:t@${D}`);
    expect(parseReference(`h:1/a@${D}`).identifier()).toBe(D);
  });

  test("withTag and withDigest make new references", () => {
    const r = parseReference("h:1/a:t");
    expect(r.withTag("u").toString()).toBe("h:1/a:u");
    expect(r.withDigest(D).toString()).toBe(`h:1/a:t@${D}`);
    expect(r.toString()).toBe("h:1/a:t");
    expect(() => r.withDigest("sha256:abc")).toThrow(KilnError);
  });

  const bad = ["", "app/UPPER", "docker.io/Busybox", "app:", "app:-x", "a//b", "a@sha256:abc", "a@sha256:" + "A".repeat(64), "a@md5:" + "0".repeat(32), "-a", "h:1/a:" + "t".repeat(129)];
  for (const input of bad) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      expect(() => parseReference(input)).toThrow(KilnError);
    });
  }

  test("errors name the input", () => {
    expect(() => parseReference("a@sha256:abc")).toThrow(/"a@sha256:abc".*digest/);
  });

  test("parseRepository refuses tags", () => {
    expect(parseRepository("h:1/cache").toString()).toBe("h:1/cache");
    expect(() => parseRepository("h:1/cache:t")).toThrow(/tag/);
  });
});
