// Opening libc through the runtime's FFI (bun:ffi on Bun, Deno.dlopen on Deno) and the small
// helpers every libc-*.ts topic file uses to call it. Node cannot host these; callers get a clear error.
import { runtime } from "./index.ts";
import { libcError } from "./libc-errors.ts";
import { LIBC_NAMES, SYMBOLS, type LibcBackend, type SymbolName } from "./libc-symbols.ts";

// The backend module loads now (async import), libc is opened on first use.
type BackendModule = { openLibc(names: string[], symbols: typeof SYMBOLS): LibcBackend };
const backendModule: BackendModule | null =
  runtime === "bun"
    ? await import("./libc-bun.ts")
    : runtime === "deno"
      ? await import("./libc-deno.ts")
      : null;

let backend: LibcBackend | null = null;
let loadError: Error | null = null;

/** The loaded libc; throws (the same error every time) where FFI is unavailable. */
export function lib(): LibcBackend {
  if (backend) return backend;
  if (loadError) throw loadError;
  if (!backendModule) {
    loadError = new Error(`libc: not available on ${runtime} (kiln needs Bun or Deno for xattrs, mknod, chroot and mounts)`);
    throw loadError;
  }
  try {
    backend = backendModule.openLibc(LIBC_NAMES, SYMBOLS);
    return backend;
  } catch (e) {
    loadError = new Error(`libc: cannot open ${LIBC_NAMES.join(" or ")}: ${(e as Error).message}`);
    throw loadError;
  }
}

/** True when the runtime can reach libc through FFI (Bun or Deno with --allow-ffi). */
export function libcAvailable(): boolean {
  try {
    lib();
    return true;
  } catch {
    return false;
  }
}

/** Kept for callers of the old stub. */
export function notAvailable(what: string): never {
  throw new Error(`${what}: not available on this runtime (kiln needs Bun or Deno for it)`);
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `s`. */
export function cstr(s: string): Uint8Array {
  const b = encoder.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Call `name`; a -1 return throws the errno as a node-style error naming `path`/`extra`. */
export function call(name: SymbolName, args: unknown[], path?: string, extra?: string): number {
  const l = lib();
  const ret = l.call(name, args);
  if (ret === -1) throw libcError(name, l.lastErrno(), path, extra);
  return ret;
}
