// OCI whiteouts in a layer: `.wh.NAME` removes NAME from the layers below, `.wh..wh..opq` empties
// its directory of everything the lower layers put there (entries of this layer stay). Removal
// goes through the resolver's real, symlink-free paths, so it never reaches outside the rootfs.
import fs from "node:fs";
import { KilnError } from "../util/errors.ts";
import type { RootResolver } from "./resolve.ts";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

/** Empty directory `dirReal` except the real paths this layer wrote. */
export function removeOpaque(r: RootResolver, dirReal: string, written: ReadonlySet<string>): void {
  let names: string[];
  try {
    names = fs.readdirSync(r.host(dirReal));
  } catch {
    return;
  }
  for (const n of names) {
    const childReal = dirReal === "" ? n : dirReal + "/" + n;
    if (written.has(childReal)) continue;
    fs.rmSync(r.host(childReal), { recursive: true, force: true });
  }
}

/** Remove what whiteout `name` (in directory `dirReal`) names. */
export function removeWhiteout(r: RootResolver, dirReal: string, name: string, what: string): void {
  const victim = name.slice(WHITEOUT_PREFIX.length);
  if (victim === "" || victim === "." || victim === "..") {
    throw new KilnError(`${what}: invalid whiteout "${name}" in "/${dirReal}"`);
  }
  fs.rmSync(r.host(dirReal === "" ? victim : dirReal + "/" + victim), { recursive: true, force: true });
}
