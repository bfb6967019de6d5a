// redact(): what looks like a credential goes, everything else (references with digests, ports,
// Dockerfile locations, cache keys) stays exactly as it was.
import { describe, expect, test } from "bun:test";
import { redact, registerSecret } from "../../src/util/redact.ts";

const DIGEST = "sha256:" + "a".repeat(64);

describe("redact", () => {
  test.each([
    ["flag --destination: user:secret@host/x:t: invalid image reference \"user:secret@host/x:t\"", "flag --destination: ***@host/x:t: invalid image reference \"***@host/x:t\""],
    ["GET https://bob:hunter22@registry.example/v2/", "GET https://***@registry.example/v2/"],
    ["clone https://ghp_abcdefgh@github.com/o/r.git", "clone https://***@github.com/o/r.git"],
    ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer ***"],
    ["Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"],
    ['{"auths":{"h":{"auth":"dXNlcjpwYXNzd29yZA==","password":"p\\"w","identitytoken":"tok"}}}', '{"auths":{"h":{"auth":"***","password":"***","identitytoken":"***"}}}'],
    ["https://h/token?scope=x&access_token=abc123&x=1", "https://h/token?scope=x&access_token=***&x=1"],
    ["--build-arg API_TOKEN=t0ps3cret DB_PASSWORD=pw123 SSH_KEY=k PLAIN=visible", "--build-arg API_TOKEN=*** DB_PASSWORD=*** SSH_KEY=*** PLAIN=visible"],
  ])("%s", (input, want) => expect(redact(input)).toBe(want));

  test.each([
    `pulled 127.0.0.1:5000/a/b:1@${DIGEST}`,
    `busybox:1.36@${DIGEST}`,
    "Dockerfile:3: COPY failed: \"a\": not found in the build context",
    "kiln: flag --cache-ttl: invalid duration \"5parsecs\"",
    "step 3 key=sha256:0123 hit",
    "Basic auth failed",
    "mail me at someone@example.org",
    'invalid image reference "a:b:c@@"',
  ])("leaves alone: %s", (text) => expect(redact(text)).toBe(text));

  test("registered secrets are masked anywhere", () => {
    registerSecret("pw-registered-1234");
    registerSecret("abc"); // too short to mask safely: ignored
    expect(redact("login failed for pw-registered-1234 (abc)")).toBe("login failed for *** (abc)");
  });
});
