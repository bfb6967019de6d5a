// Extended attributes of layer entries (PAX SCHILY.xattr.*), set after chown and chmod because
// chown clears security.capability. A filesystem or runtime that cannot take them gets one warning
// per attribute name, not a failed build. ADD archives and tar contexts never call this.
import type { TarHeader } from "../tar/types.ts";
import { libcAvailable, lsetxattr } from "../runtime/libc.ts";

export function applyXattrs(host: string, h: TarHeader, warn: (key: string, msg: string) => void): void {
  if (!h.xattrs || h.xattrs.size === 0) return;
  if (!libcAvailable()) {
    warn("xattr-libc", `extended attributes not applied (this runtime has no FFI for lsetxattr), first on "${h.name}"`);
    return;
  }
  for (const [k, v] of h.xattrs) {
    try {
      lsetxattr(host, k, v);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EPERM" || code === "EACCES") {
        warn(`xattr:${k}`, `cannot set xattr ${k} (${code}), first on "${h.name}"; skipping it`);
        continue;
      }
      throw e;
    }
  }
}
