// Bearer token auth against a real registry with auth.token and a loopback token server.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseLayouts } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { startTokenRegistry } from "./token-registry.ts";
import { accessLog } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-bearer-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

describe("bearer tokens", async () => {
  const reg = await startTokenRegistry();
  afterAll(() => reg.stop());
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  const cfg = join(tmp, "cfg");
  (await import("node:fs")).mkdirSync(cfg);
  writeFileSync(join(cfg, "config.json"), JSON.stringify({ auths: { [reg.host]: { username: reg.username, password: reg.password } } }));

  test("push and pull with tokens fetched from the challenge's realm, cached per scope", async () => {
    const client = new RegistryClient({ dockerConfigDir: cfg });
    const ref = parseReference(`${reg.host}/bearer/app:1`);
    reg.tokenRequests.length = 0;
    await pushImage(client, img, ref);
    const pushTokens = reg.tokenRequests.filter((t) => t.scopes.includes("repository:bearer/app:pull,push"));
    expect(pushTokens.length).toBe(1); // one token for all blob and manifest requests
    expect(pushTokens[0]!.basicUser).toBe(reg.username);
    expect(pushTokens[0]!.service).toBe("kiln-test-registry");
    const pulled = await fetchImage(client, ref);
    expect(pulled.manifestDigest).toBe(img.manifestDigest);
    // The access log has no request carrying credentials in the URL and every push was authorized.
    expect(accessLog(reg.logFile).some((l) => l.includes("PUT /v2/bearer/app/manifests/1") && / 201 /.test(l))).toBe(true);
  });

  test("mount asks for pull on the source repo too", async () => {
    const client = new RegistryClient({ dockerConfigDir: cfg });
    reg.tokenRequests.length = 0;
    const res = await pushImage(client, img, parseReference(`${reg.host}/bearer/other:1`), { mountFrom: [parseReference(`${reg.host}/bearer/app`)] });
    expect(res.blobs.find((b) => b.digest === img.layers[0]!.digest)?.action).toBe("mounted");
    expect(reg.tokenRequests.some((t) => t.scopes.includes("repository:bearer/app:pull") && t.scopes.includes("repository:bearer/other:pull,push"))).toBe(true);
  });

  test("anonymous token pulls; a push is refused with an unauthorized error naming the registry", async () => {
    const empty = join(tmp, "empty");
    (await import("node:fs")).mkdirSync(empty);
    const client = new RegistryClient({ dockerConfigDir: empty });
    const ref = parseReference(`${reg.host}/bearer/app:1`);
    expect((await fetchImage(client, ref)).manifestDigest).toBe(img.manifestDigest);
    const err = await pushImage(client, img, parseReference(`${reg.host}/bearer/anon:1`)).catch((e) => e);
    expect(String(err.message)).toMatch(new RegExp(`unauthorized: registry ${reg.host.replace(/\./g, "\\.")}.*no credentials`));
  });

  test("a token the registry rejects is replaced after the 401", async () => {
    // The refused push above drops its upload session in the background (push.ts): let that finish
    // first, or it takes the expired token meant for this test.
    await new Promise((r) => setTimeout(r, 300));
    const client = new RegistryClient({ dockerConfigDir: cfg });
    reg.tokenRequests.length = 0;
    reg.expireNextToken();
    expect((await client.headManifest(parseReference(`${reg.host}/bearer/app:1`)))?.digest).toBe(img.manifestDigest);
    expect(reg.tokenRequests.length).toBe(2);
  });
});
