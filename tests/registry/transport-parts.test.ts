// The pure parts of the split transport: host names and lists, which failures are retried,
// and how pull-only options derive from the common ones.
import { describe, expect, test } from "bun:test";
import { KilnError } from "../../src/util/errors.ts";
import { apiHost, hostEntry, hostMatches, isLoopback, stripQuery } from "../../src/registry/hosts.ts";
import { checkRetryCount, pullOptions } from "../../src/registry/options.ts";
import { isRetryableError, isRetryableStatus, isTlsError, networkMessage } from "../../src/registry/retry.ts";

describe("hosts", () => {
  test("Docker Hub's API host, loopback detection", () => {
    expect(apiHost("docker.io")).toBe("registry-1.docker.io");
    expect(apiHost("ghcr.io")).toBe("ghcr.io");
    for (const h of ["localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000"]) expect(isLoopback(h)).toBe(true);
    for (const h of ["ghcr.io", "128.0.0.1", "localhost.example.com"]) expect(isLoopback(h)).toBe(false);
  });
  test("host lists match host:port, host, * and the API host", () => {
    expect(hostMatches(["r.example"], "r.example:5000")).toBe(true);
    expect(hostMatches(["r.example:5000"], "r.example:5000")).toBe(true);
    expect(hostMatches(["r.example:5001"], "r.example:5000")).toBe(false);
    expect(hostMatches(["*"], "any.example")).toBe(true);
    expect(hostMatches(["registry-1.docker.io"], "docker.io")).toBe(true);
    expect(hostMatches(undefined, "r.example")).toBe(false);
    expect(hostEntry({ "r.example": 1, "r.example:5000": 2 }, "r.example:5000")).toBe(2);
    expect(hostEntry({ "r.example": 1 }, "r.example:5000")).toBe(1);
    expect(hostEntry({ "q.example": 1 }, "r.example:5000")).toBeUndefined();
  });
  test("upload URLs lose their query in logs", () => {
    expect(stripQuery("https://r/v2/a/blobs/uploads/x?_state=secret#f")).toBe("https://r/v2/a/blobs/uploads/x");
  });
});

describe("retry policy", () => {
  test("5xx and 429 are retried, other statuses are not", () => {
    expect([500, 502, 503, 429].map(isRetryableStatus)).toEqual([true, true, true, true]);
    expect([400, 401, 403, 404, 409].map(isRetryableStatus)).toEqual([false, false, false, false, false]);
  });
  test("TLS failures and local errors are not retried; connection errors are", () => {
    expect(isTlsError(new Error("self signed certificate in certificate chain"))).toBe(true);
    expect(isRetryableError(new Error("unable to verify the first certificate"))).toBe(false);
    expect(isRetryableError(new KilnError("--registry-client-cert for r: cannot read c.pem"))).toBe(false);
    expect(isRetryableError(Object.assign(new Error("fetch failed"), { cause: new Error("ECONNRESET") }))).toBe(true);
    expect(networkMessage(Object.assign(new Error("fetch failed"), { cause: new Error("ECONNREFUSED 127.0.0.1:1") }))).toBe("fetch failed: ECONNREFUSED 127.0.0.1:1");
  });
});

describe("options", () => {
  test("pull options add --insecure-pull and --skip-tls-verify-pull; unchanged otherwise", () => {
    const o = { insecureRegistries: ["a.example"] };
    expect(pullOptions(o)).toBe(o);
    expect(pullOptions({ ...o, insecurePull: true }).insecureRegistries).toEqual(["a.example", "*"]);
    expect(pullOptions({ skipTlsVerifyPull: true }).skipTlsVerify).toBe(true);
  });
  test("retry counts: whole numbers ≥ 0", () => {
    expect(checkRetryCount("--push-retry", 0)).toBe(0);
    expect(checkRetryCount("--push-retry", undefined)).toBeUndefined();
    expect(() => checkRetryCount("--push-retry", -1)).toThrow(/^--push-retry: want a whole number of retries ≥ 0, got -1$/);
    expect(() => checkRetryCount("--image-download-retry", Number.NaN)).toThrow(/--image-download-retry/);
  });
});
