// `kiln warm`: fill --cache-dir with base image layers ahead of time (kaniko's warmer), so
// builds with the same --cache-dir unpack them from local disk instead of the registry.
// It takes the warmer's flags with pflag's syntax, like the build command.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { localLayerPath } from "../executor/images.ts";
import { parseImageLocation } from "../image/location.ts";
import { hostPlatform, parsePlatformFlag } from "../image/platform.ts";
import { RegistryClient } from "../registry/index.ts";
import { openImage } from "../registry/open-image.ts";
import { parseDockerfile, planBuild } from "../dockerfile/index.ts";
import { parseDurationFlag } from "../util/duration.ts";
import { KilnError, UsageError } from "../util/errors.ts";
import { formatFlagHelp, parsePflags, type FlagSpec } from "./pflag.ts";
import { Flags, parseKeyValues } from "./flag-reader.ts";
import { pullFlagOptions } from "./pull-flags.ts";
import { LOG_FLAGS, PULL_FLAGS } from "./build-flags.ts";

export const WARM_FLAGS: readonly FlagSpec[] = [
  { name: "image", short: "i", type: "list", arg: "ref", help: "image to download (repeatable)" },
  { name: "dockerfile", short: "d", type: "string", arg: "path", help: "also download the base images of this Dockerfile's stages" },
  { name: "build-arg", type: "list", arg: "key=value", help: "build argument for --dockerfile's FROM lines (repeatable)" },
  { name: "cache-dir", short: "c", type: "string", arg: "dir", help: "the directory builds are given as --cache-dir", defaultText: "/cache" },
  { name: "force", short: "f", type: "bool", help: "download again even when the layers are there" },
  { name: "cache-ttl", type: "duration", arg: "duration", help: "accepted for kaniko; kiln's layer files are named by digest and never go stale", defaultText: "336h" },
  { name: "custom-platform", type: "string", arg: "os/arch", help: "platform to pick from multi-platform images" },
  ...PULL_FLAGS,
  ...LOG_FLAGS,
  { name: "customPlatform", type: "string", help: "", aliasOf: "custom-platform", hidden: true },
];

export function warmHelp(): string {
  return `Usage: kiln warm [flags]   (kaniko's warmer)\n\ndownload base images into --cache-dir for later builds\n\nFlags:\n${formatFlagHelp(WARM_FLAGS)}\n`;
}

export async function runWarm(argv: readonly string[], env = process.env): Promise<void> {
  const p = parsePflags(argv, WARM_FLAGS);
  if (p.help) {
    process.stdout.write(warmHelp());
    return;
  }
  if (p.positional.length) throw new UsageError(`unexpected argument "${p.positional[0]}" (use --image ${p.positional[0]})`);
  for (const w of p.warnings) console.error(`kiln: warning: ${w}`);
  const f = new Flags(p);
  parseDurationFlag("cache-ttl", f.str("cache-ttl") ?? "336h");
  // The same pull settings as a build's: mirrors, remaps, pull-only TLS, client certificates, retries.
  const pull = pullFlagOptions(f, env);
  const platformArg = f.str("custom-platform");
  const platform = platformArg ? parsePlatformFlag("--custom-platform", platformArg) : hostPlatform();
  const images = [...f.list("image")];
  const dockerfile = f.str("dockerfile");
  if (dockerfile) images.push(...dockerfileBases(dockerfile, parseKeyValues("build-arg", f.list("build-arg"), true, env)));
  if (images.length === 0) throw new UsageError("flag --image: give at least one image to download (or --dockerfile)");
  const locations = images.map((name) => ({ name, loc: parseImageLocation(name, { what: "flag --image", accept: ["registry"] }) }));
  const client = new RegistryClient({ ...pull, warn: (m) => console.error(`kiln: warning: ${m}`) });
  const blobs = join(f.str("cache-dir") ?? "/cache", "blobs");
  mkdirSync(blobs, { recursive: true });
  for (const { name, loc } of locations) {
    const { image: img } = await openImage(client, loc, platform);
    if (f.bool("force")) for (const l of img.layers) rmSync(join(blobs, l.digest.replace(":", "-")), { force: true });
    for (const layer of img.layers) await localLayerPath(layer, blobs);
    console.log(`${name}@${img.manifestDigest}: ${img.layers.length} layers in ${blobs}`);
  }
}

/** The images a Dockerfile's stages start FROM (not earlier stages, not scratch). */
function dockerfileBases(file: string, buildArgs: Record<string, string>): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`flag --dockerfile: ${file}: ${(e as Error).message}`);
  }
  const plan = planBuild(parseDockerfile(text, file), { buildArgs });
  const out = plan.stages.filter((s) => s.baseStage === undefined && !s.scratch).map((s) => s.base);
  if (out.length === 0) throw new KilnError(`${file}: no stage starts from an image`);
  return [...new Set(out)];
}
