// Extended attributes (node:fs has none): the l* calls act on a symlink itself, never its target.
import { libcError } from "./libc-errors.ts";
import { call, cstr, lib } from "./libc-loader.ts";

export const XATTR_CREATE = 0x1;
export const XATTR_REPLACE = 0x2;

const ENODATA = 61;
const ERANGE = 34;
const decoder = new TextDecoder();

/** The value of extended attribute `name` on `path` (not following symlinks); null when absent. */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const p = cstr(path);
  const n = cstr(name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = lib().call("lgetxattr", [p, n, null, 0]);
    if (size === -1) {
      const errno = lib().lastErrno();
      if (errno === ENODATA) return null;
      throw libcError("lgetxattr", errno, path, name);
    }
    // A zero-length buffer still needs a valid pointer for the FFI layers.
    const buf = new Uint8Array(Math.max(size, 1));
    const got = lib().call("lgetxattr", [p, n, buf, size]);
    if (got === -1) {
      const errno = lib().lastErrno();
      if (errno === ENODATA) return null;
      if (errno === ERANGE) continue; // grew between the two calls
      throw libcError("lgetxattr", errno, path, name);
    }
    return buf.slice(0, got);
  }
  throw libcError("lgetxattr", ERANGE, path, name);
}

/** Set extended attribute `name` on `path` (not following symlinks), creating or replacing it. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const buf = value.length ? value : new Uint8Array(1);
  call("lsetxattr", [cstr(path), cstr(name), buf, value.length, 0], path, name);
}

/** Names of the extended attributes on `path` (not following symlinks). */
export function llistxattr(path: string): string[] {
  const p = cstr(path);
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = call("llistxattr", [p, null, 0], path);
    if (size === 0) return [];
    const buf = new Uint8Array(size);
    const got = lib().call("llistxattr", [p, buf, size]);
    if (got === -1) {
      const errno = lib().lastErrno();
      if (errno === ERANGE) continue;
      throw libcError("llistxattr", errno, path);
    }
    return decoder
      .decode(buf.subarray(0, got))
      .split("\0")
      .filter((s) => s !== "");
  }
  throw libcError("llistxattr", ERANGE, path);
}

export function lremovexattr(path: string, name: string): void {
  call("lremovexattr", [cstr(path), cstr(name)], path, name);
}
