// `kiln warm`: fill --cache-dir with base image layers ahead of time (kaniko's warmer), so
// builds with the same --cache-dir unpack them from local disk instead of the registry.
import { Command } from "@commander-js/extra-typings";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { localLayerPath } from "../executor/images.ts";
import { parseImageLocation } from "../image/location.ts";
import { RegistryClient } from "../registry/index.ts";
import { openImage } from "../registry/open-image.ts";
import { hostPlatform, parsePlatformFlag } from "../image/platform.ts";

const collect = (value: string, prev: string[]) => [...prev, value];

export function warmCommand() {
  return new Command("warm")
    .description("download base images into --cache-dir for later builds")
    .requiredOption("-i, --image <ref>", "image to download (repeatable)", collect, [] as string[])
    .requiredOption("--cache-dir <dir>", "the directory builds are given as --cache-dir")
    .option("--insecure-registry <host>", "reach this registry over plain HTTP (repeatable)", collect, [] as string[])
    .option("--skip-tls-verify", "do not verify registry TLS certificates", false)
    .option("--custom-platform <os/arch>", "platform to pick from multi-platform images")
    .action(async (o) => {
      const client = new RegistryClient({ insecureRegistries: o.insecureRegistry, skipTlsVerify: o.skipTlsVerify });
      const blobs = join(o.cacheDir, "blobs");
      mkdirSync(blobs, { recursive: true });
      const locations = o.image.map((name) => ({ name, loc: parseImageLocation(name, { what: "flag --image", accept: ["registry"] }) }));
      for (const { name, loc } of locations) {
        const { image: img } = await openImage(client, loc, o.customPlatform ? parsePlatformFlag("--custom-platform", o.customPlatform) : hostPlatform());
        for (const layer of img.layers) await localLayerPath(layer, blobs);
        console.log(`${name}@${img.manifestDigest}: ${img.layers.length} layers in ${blobs}`);
      }
    });
}
