// The platform list of a multi-platform build: `--platform linux/amd64,linux/arm64[,…]`, parsed
// entry by entry with the one platform parser (image/platform.ts), as buildx reads it.
import { UsageError } from "../util/errors.ts";
import { formatPlatform, platformSpec, type PlatformSpec } from "../dockerfile/platform.ts";
import { parsePlatform } from "./platform.ts";

/**
 * Parse a comma-separated platform list (the flag may also be given several times: pass each
 * value). Order is kept; an empty entry, a bad entry, a non-Linux OS or the same platform twice
 * (after normalisation: linux/arm64 == linux/arm64/v8) is an error naming the flag and the entry.
 */
export function parsePlatformList(values: string | readonly string[], flag = "--platform"): PlatformSpec[] {
  const out: PlatformSpec[] = [];
  const seen = new Map<string, string>();
  for (const value of typeof values === "string" ? [values] : values) {
    for (const raw of value.split(",")) {
      const entry = raw.trim();
      if (!entry) throw new UsageError(`flag ${flag}: empty platform in "${value}" (want os/arch[/variant],…, e.g. linux/amd64,linux/arm64)`);
      let p: PlatformSpec;
      try {
        p = platformSpec(parsePlatform(entry));
      } catch (e) {
        throw new UsageError(`flag ${flag}: ${(e as Error).message}`);
      }
      if (p.os !== "linux") throw new UsageError(`flag ${flag}: platform "${entry}": kiln builds linux images only`);
      const key = formatPlatform(p);
      const earlier = seen.get(key);
      if (earlier !== undefined) throw new UsageError(`flag ${flag}: platform "${entry}" is listed twice (as "${earlier}" too)`);
      seen.set(key, entry);
      out.push(p);
    }
  }
  if (!out.length) throw new UsageError(`flag ${flag}: no platform given`);
  return out;
}
