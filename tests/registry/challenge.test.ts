import { expect, test } from "bun:test";
import { parseChallenges } from "../../src/registry/challenge.ts";

test("parses Bearer with quoted params and several challenges", () => {
  const h = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push", Basic realm="x\\"y"';
  expect(parseChallenges(h)).toEqual([
    { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull,push" } },
    { scheme: "basic", params: { realm: 'x"y' } },
  ]);
});

test("parses unquoted values and empty headers", () => {
  expect(parseChallenges("Basic realm=registry")).toEqual([{ scheme: "basic", params: { realm: "registry" } }]);
  expect(parseChallenges(null)).toEqual([]);
});
