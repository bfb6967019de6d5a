// Typed access to what parsePflags read (src/cli/pflag.ts), with kaniko's defaults and kiln's
// one-line errors naming the flag. Shared by `kiln build` and `kiln warm`, so the same flag is
// read and refused the same way in both.
import { UsageError } from "../util/errors.ts";
import type { FlagValue, ParsedArgs } from "./pflag.ts";

type Env = Record<string, string | undefined>;

export class Flags {
  constructor(readonly parsed: ParsedArgs) {}
  has(name: string): boolean {
    return this.parsed.values.has(name);
  }
  private raw(name: string): FlagValue | undefined {
    return this.parsed.values.get(name);
  }
  bool(name: string, dflt = false): boolean {
    const v = this.raw(name);
    return v === undefined ? dflt : (v as boolean);
  }
  str(name: string): string | undefined {
    return this.raw(name) as string | undefined;
  }
  list(name: string): string[] {
    return (this.raw(name) as string[] | undefined) ?? [];
  }
  /** A whole number; `min` rejects e.g. negative retry counts. */
  int(name: string, min?: number): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^[-+]?\d+$/.test(v)) throw new UsageError(`flag --${name}: "${v}": expected a whole number`);
    const n = Number(v);
    if (min !== undefined && n < min) throw new UsageError(`flag --${name}: ${n}: must be ${min} or more`);
    return n;
  }
  choice<T extends string>(name: string, choices: readonly T[], dflt: T): T {
    const v = this.str(name);
    if (v === undefined) return dflt;
    if (!(choices as readonly string[]).includes(v)) throw new UsageError(`flag --${name}: "${v}": expected one of ${choices.join(", ")}`);
    return v as T;
  }
}

/** KEY=VALUE list → record. With fromEnv, a bare KEY takes its value from the environment. */
export function parseKeyValues(flag: string, items: string[], fromEnv: boolean, env: Env = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq === 0) throw new UsageError(`flag --${flag}: "${item}": empty key`);
    if (eq < 0) {
      if (!fromEnv) throw new UsageError(`flag --${flag}: "${item}": expected KEY=VALUE`);
      const v = env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
