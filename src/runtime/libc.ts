// libc calls that node:fs lacks (xattrs, mknod, chroot, namespaces, mounts), reached through
// bun:ffi on Bun and Deno.dlopen on Deno. Node cannot host these; callers get a clear error.
// (Stub: implemented by the rootfs/runner work.)
export function notAvailable(what: string): never {
  throw new Error(`${what}: not available on this runtime (kiln needs Bun or Deno for it)`);
}
