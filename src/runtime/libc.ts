// libc calls that node:fs lacks (xattrs, mknod, chroot, namespaces, mounts, processes), reached
// through bun:ffi on Bun and Deno.dlopen on Deno. One import for callers; each topic has its own
// file. Failures throw an Error shaped like node's fs errors: code = errno name, errno, syscall, path.
export { LIBC_NAMES, SYMBOLS, type CType, type LibcBackend, type SymbolName, type SymbolSpec } from "./libc-symbols.ts";
export { errnoName, errnoText, type LibcError } from "./libc-errors.ts";
export { libcAvailable, notAvailable } from "./libc-loader.ts";
export * from "./libc-xattr.ts";
export * from "./libc-files.ts";
export * from "./libc-mounts.ts";
export * from "./libc-namespaces.ts";
export * from "./libc-creds.ts";
export * from "./libc-process.ts";
export * from "./libc-spawn.ts";
