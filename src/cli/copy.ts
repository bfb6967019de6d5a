// `kiln copy SRC DST`: move an image between registries, OCI layouts and docker archives.
import { Command, Option } from "@commander-js/extra-typings";
import { UsageError } from "../util/errors.ts";
import { parsePlatformFlag } from "../image/platform.ts";

const collect = (value: string, prev: string[]) => [...prev, value];

export function copyCommand() {
  return new Command("copy")
    .description("copy an image: SRC is docker://REF (or a plain REF) or oci:DIR[:TAG]; DST is also docker-archive:FILE[:REF]")
    .argument("<src>", "docker://REF, REF, oci:DIR[:TAG] (oci-layout://DIR[:TAG])")
    .argument("<dst>", "docker://REF, REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]")
    .option("--insecure", "reach registries over plain HTTP", false)
    .option("--insecure-registry <host>", "reach this registry over plain HTTP (repeatable)", collect, [] as string[])
    .option("--skip-tls-verify", "do not verify registry TLS certificates", false)
    .option("--skip-tls-verify-registry <host>", "do not verify TLS for this registry (repeatable)", collect, [] as string[])
    .option("--registry-certificate <host=path>", "CA certificate for a registry (repeatable)", collect, [] as string[])
    .option("--secure-loopback", "treat localhost/127.0.0.1 registries like others (verify TLS, no HTTP fallback)", false)
    .option("--docker-config <dir>", "directory with config.json (default $DOCKER_CONFIG or ~/.docker)")
    .option("--platform <os/arch>", "image to take from a multi-platform source (default: this host)")
    .addOption(new Option("--format <format>", "convert the manifest to this format").choices(["oci", "docker"] as const))
    .option("--jobs <n>", "blob transfers in flight", (v) => Number(v), 4)
    .action(async (src, dst, o) => {
      const { runCopy } = await import("../registry/copy.ts");
      const certs: Record<string, string> = {};
      for (const c of o.registryCertificate) {
        const i = c.indexOf("=");
        if (i <= 0) throw new UsageError(`flag --registry-certificate: want host=path, got "${c}"`);
        certs[c.slice(0, i)] = c.slice(i + 1);
      }
      if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new UsageError("flag --jobs: want a positive integer");
      if (o.platform !== undefined) parsePlatformFlag("--platform", o.platform);
      const digest = await runCopy(src, dst, {
        insecureRegistries: o.insecure ? ["*", ...o.insecureRegistry] : o.insecureRegistry,
        skipTlsVerify: o.skipTlsVerify,
        skipTlsVerifyRegistries: o.skipTlsVerifyRegistry,
        registryCertificates: certs,
        dockerConfigDir: o.dockerConfig,
        secureLoopback: o.secureLoopback,
        platform: o.platform,
        format: o.format,
        concurrency: o.jobs,
      });
      console.log(digest);
    });
}
