// TLS registries: a custom CA, skip-verify, and the error without either.
import { describe, expect, test } from "bun:test";
import { baseLayouts, tlsRegistry } from "../env.ts";
import { parseReference } from "../../src/image/reference.ts";
import { readOciLayout } from "../../src/image/layout.ts";
import { RegistryClient } from "../../src/registry/client.ts";
import { pushImage } from "../../src/registry/push.ts";

describe("TLS registry", async () => {
  const reg = await tlsRegistry();
  const img = readOciLayout((await baseLayouts()).busybox, "latest");
  // Loopback hosts are insecure by default (like Docker); secureLoopback turns that off to test verification.
  const ref = parseReference(`${reg.host}/tls/app:1`);

  test("a self-signed registry without a CA fails with a hint", async () => {
    const client = new RegistryClient({ secureLoopback: true });
    await expect(client.ping(reg.host)).rejects.toThrow(new RegExp(`cannot reach registry ${reg.host.replace(/\./g, "\\.")}: .*--registry-certificate`));
  });

  test("--registry-certificate host=CA", async () => {
    const client = new RegistryClient({ secureLoopback: true, registryCertificates: { [reg.host]: reg.caFile! } });
    expect((await pushImage(client, img, ref)).digest).toBe(img.manifestDigest);
    expect(await client.transport.baseUrl(reg.host)).toBe(`https://${reg.host}`);
  });

  test("--skip-tls-verify and --skip-tls-verify-registry", async () => {
    for (const opts of [{ skipTlsVerify: true }, { skipTlsVerifyRegistries: [reg.host] }]) {
      const client = new RegistryClient({ secureLoopback: true, ...opts });
      expect((await client.headManifest(ref))?.digest).toBe(img.manifestDigest);
    }
  });

  test("loopback is insecure by default: TLS without verification first, then plain HTTP", async () => {
    const client = new RegistryClient();
    expect((await client.headManifest(ref))?.digest).toBe(img.manifestDigest);
    expect(await client.transport.baseUrl(reg.host)).toBe(`https://${reg.host}`);
  });
});
