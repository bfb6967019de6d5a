// `kiln copy SRC DST`: move an image between registries, OCI layouts and docker archives.
import { Command, Option } from "@commander-js/extra-typings";
import { UsageError } from "../util/errors.ts";
import { parsePlatformFlag } from "../image/platform.ts";
import { registryOptionsOf, withRegistryOptions } from "./registry-options.ts";

export function copyCommand() {
  return withRegistryOptions(new Command("copy")
    .description("copy an image: SRC is docker://REF (or a plain REF) or oci:DIR[:TAG]; DST is also docker-archive:FILE[:REF]")
    .argument("<src>", "docker://REF, REF, oci:DIR[:TAG] (oci-layout://DIR[:TAG])")
    .argument("<dst>", "docker://REF, REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]"))
    .option("--secure-loopback", "treat localhost/127.0.0.1 registries like others (verify TLS, no HTTP fallback)", false)
    .option("--platform <os/arch>", "image to take from a multi-platform source (default: this host)")
    .addOption(new Option("--format <format>", "convert the manifest to this format").choices(["oci", "docker"] as const))
    .option("--jobs <n>", "blob transfers in flight", (v) => Number(v), 4)
    .action(async (src, dst, o) => {
      const { runCopy } = await import("../registry/copy.ts");
      if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new UsageError("flag --jobs: want a positive integer");
      if (o.platform !== undefined) parsePlatformFlag("--platform", o.platform);
      const digest = await runCopy(src, dst, {
        ...registryOptionsOf(o),
        secureLoopback: o.secureLoopback,
        platform: o.platform,
        format: o.format,
        concurrency: o.jobs,
      });
      console.log(digest);
    });
}
