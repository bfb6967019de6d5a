// Size limits set through the environment (KILN_MAX_UNPACKED_SIZE, KILN_MAX_DOWNLOAD_SIZE): bytes,
// or a number with a K/M/G/T suffix (binary units; "16G", "256MiB").
import process from "node:process";
import { KilnError } from "./errors.ts";

/** The size in `process.env[name]`, or `dflt` when unset; `example` shows a valid value in the error. */
export function sizeFromEnv(name: string, dflt: number, example: string): number {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const m = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(v.trim());
  if (!m) throw new KilnError(`${name}="${v}" is not a size (e.g. ${example})`);
  const exp = m[2] ? "KMGT".indexOf(m[2][0]!.toUpperCase()) + 1 : 0;
  return Number(m[1]) * 1024 ** exp;
}
