// Basic auth against the htpasswd registry: no credentials, config.json, credential helpers.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authRegistry, baseLayouts } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { fetchImage } from "../../src/registry/pull.ts";
import { pushImage } from "../../src/registry/push.ts";
import { RegistryError } from "../../src/registry/errors.ts";
import { findCredential } from "../../src/registry/docker-config.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiln-auth-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function configDir(name: string, config: object): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

describe("auth (htpasswd registry)", async () => {
  const reg = await authRegistry();
  const layouts = await baseLayouts();
  const img = readOciLayout(layouts.busybox, "latest");
  const user = reg.username!;
  const pass = reg.password!;

  test("no credentials: a clear unauthorized error naming the registry, no secrets", async () => {
    const client = new RegistryClient({ dockerConfigDir: configDir("empty", {}) });
    const ref = parseReference(`${reg.host}/auth/none:1`);
    const err = await pushImage(client, img, ref).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toMatch(new RegExp(`^unauthorized: registry ${reg.host.replace(/\./g, "\\.")}`));
    expect(err.message).toContain("no credentials");
    await expect(fetchImage(client, ref)).rejects.toThrow(/unauthorized/);
  });

  test("wrong password: rejected, and the password is not in the message", async () => {
    const client = new RegistryClient({ dockerConfigDir: configDir("wrong", { auths: { [reg.host]: { username: user, password: "not-the-password-xyz" } } }) });
    const err = await pushImage(client, img, parseReference(`${reg.host}/auth/wrong:1`)).catch((e) => e);
    expect(err.message).toMatch(/unauthorized: .*rejected/);
    expect(err.message).not.toContain("not-the-password-xyz");
  });

  test("config.json auths with base64 auth: push and pull work", async () => {
    const auth = Buffer.from(`${user}:${pass}`).toString("base64");
    const client = new RegistryClient({ dockerConfigDir: configDir("b64", { auths: { [`https://${reg.host}/v1/`]: { auth } } }) });
    const ref = parseReference(`${reg.host}/auth/b64:1`);
    const res = await pushImage(client, img, ref);
    expect(res.digest).toBe(img.manifestDigest);
    expect((await fetchImage(client, ref)).manifestDigest).toBe(img.manifestDigest);
  });

  test("$DOCKER_CONFIG with username/password fields", async () => {
    const dir = configDir("env", { auths: { [reg.host]: { username: user, password: pass } } });
    const old = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
    try {
      const client = new RegistryClient();
      expect((await client.headManifest(parseReference(`${reg.host}/auth/b64:1`)))?.digest).toBe(img.manifestDigest);
    } finally {
      if (old === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = old;
    }
  });

  test("credHelpers and credsStore run docker-credential-<name>", async () => {
    const bin = join(tmp, "bin");
    mkdirSync(bin, { recursive: true });
    const calls = join(tmp, "helper-calls");
    // The helper protocol: `get` with the server URL on stdin, JSON on stdout.
    writeFileSync(
      join(bin, "docker-credential-kilntest"),
      `#!/bin/sh\n[ "$1" = get ] || exit 1\nread -r server\necho "$server" >> ${JSON.stringify(calls)}\n` +
        `if [ "$server" = ${JSON.stringify(reg.host)} ]; then printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" ${JSON.stringify(user)} ${JSON.stringify(pass)}; exit 0; fi\n` +
        `echo "credentials not found in native keychain"; exit 1\n`,
    );
    chmodSync(join(bin, "docker-credential-kilntest"), 0o755);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      const helperDir = configDir("helper", { credHelpers: { [reg.host]: "kilntest" } });
      const client = new RegistryClient({ dockerConfigDir: helperDir });
      const ref = parseReference(`${reg.host}/auth/helper:1`);
      expect((await pushImage(client, img, ref)).digest).toBe(img.manifestDigest);
      const storeDir = configDir("store", { credsStore: "kilntest" });
      expect((await new RegistryClient({ dockerConfigDir: storeDir }).headManifest(ref))?.digest).toBe(img.manifestDigest);
      // "not found" from the helper means anonymous, not an error.
      expect(await findCredential("other.example:5000", storeDir)).toBeUndefined();
      const missing = configDir("missing", { credHelpers: { [reg.host]: "nosuchhelper" } });
      await expect(findCredential(reg.host, missing)).rejects.toThrow(/docker-credential-nosuchhelper .*not on PATH/);
    } finally {
      process.env.PATH = oldPath;
    }
  });
});

test("docker.io aliases in config.json", async () => {
  const dir = configDir("hub", { auths: { "https://index.docker.io/v1/": { auth: Buffer.from("u:p:with:colons").toString("base64") } } });
  expect(await findCredential("docker.io", dir)).toEqual({ kind: "basic", username: "u", password: "p:with:colons" });
  expect(await findCredential("ghcr.io", dir)).toBeUndefined();
});
