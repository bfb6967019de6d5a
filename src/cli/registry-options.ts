// The registry connection options of the commander subcommands (`kiln copy`, `kiln index
// create`, `kiln index inspect`): declared once, turned into RegistryOptions once, so the three
// accept the same flags with the same meaning as `kiln build`'s.
import type { Command, OptionValues } from "@commander-js/extra-typings";
import type { RegistryOptions } from "../registry/options.ts";
import { parseKeyValues } from "./flag-reader.ts";

/** commander's way to repeat an option: every value kept, in order. */
export const collect = (value: string, prev: string[]): string[] => [...prev, value];

/** Add --insecure, --insecure-registry, --skip-tls-verify(-registry), --registry-certificate, --docker-config. */
export function withRegistryOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(cmd: Command<A, O, G>) {
  return cmd
    .option("--insecure", "reach registries over plain HTTP", false)
    .option("--insecure-registry <host>", "reach this registry over plain HTTP (repeatable)", collect, [] as string[])
    .option("--skip-tls-verify", "do not verify registry TLS certificates", false)
    .option("--skip-tls-verify-registry <host>", "do not verify TLS for this registry (repeatable)", collect, [] as string[])
    .option("--registry-certificate <host=path>", "CA certificate for a registry (repeatable)", collect, [] as string[])
    .option("--docker-config <dir>", "directory with config.json (default $DOCKER_CONFIG or ~/.docker)");
}

/** What withRegistryOptions' options hold after parsing. */
export interface RegistryOptionValues {
  insecure: boolean;
  insecureRegistry: string[];
  skipTlsVerify: boolean;
  skipTlsVerifyRegistry: string[];
  registryCertificate: string[];
  dockerConfig?: string;
}

/** The parsed options as RegistryOptions; a malformed --registry-certificate is a usage error naming it. */
export function registryOptionsOf(o: RegistryOptionValues): RegistryOptions {
  return {
    insecureRegistries: o.insecure ? ["*", ...o.insecureRegistry] : o.insecureRegistry,
    skipTlsVerify: o.skipTlsVerify,
    skipTlsVerifyRegistries: o.skipTlsVerifyRegistry,
    registryCertificates: parseKeyValues("registry-certificate", o.registryCertificate, false),
    dockerConfigDir: o.dockerConfig,
  };
}
