// libc through bun:ffi. Loaded only on Bun (by libc-loader.ts); bun:ffi is imported through a variable
// so Deno's module graph and type-checker never try to resolve it.
import type { CType, LibcBackend, SymbolName, SymbolSpec } from "./libc-symbols.ts";

interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => unknown>; close(): void };
  read: { i32(ptr: unknown, offset?: number): number };
  ptr(buf: Uint8Array): number;
}

const BUN_FFI = "bun:ffi";
const ffi = (await import(BUN_FFI)) as BunFfi;

const TYPES: Record<CType, string> = { buf: "ptr", i32: "i32", u32: "u32", u64: "u64", usize: "u64", isize: "i64_fast" };

export function openLibc(names: string[], symbols: Record<SymbolName, SymbolSpec>): LibcBackend {
  const defs: Record<string, { args: string[]; returns: string }> = { __errno_location: { args: [], returns: "ptr" } };
  for (const [name, spec] of Object.entries(symbols)) defs[name] = { args: spec.args.map((t) => TYPES[t]), returns: TYPES[spec.ret] };
  let lastError: unknown;
  for (const name of names) {
    try {
      const { symbols: fns } = ffi.dlopen(name, defs);
      const errnoLocation = fns.__errno_location!;
      let errno = 0;
      return {
        call(sym, args) {
          const r = Number(fns[sym]!(...args));
          // Read errno before anything else can run on this thread.
          if (r === -1) errno = ffi.read.i32(errnoLocation());
          return r;
        },
        lastErrno: () => errno,
        address: (buf) => BigInt(ffi.ptr(buf)),
      };
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}
