// libc through Deno.dlopen (needs --allow-ffi, included in -A). Loaded only on Deno (by libc-loader.ts).
import type { CType, LibcBackend, SymbolName, SymbolSpec } from "./libc-symbols.ts";

type DenoFn = (...a: unknown[]) => unknown;
declare const Deno: {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: Record<string, DenoFn>; close(): void };
  UnsafePointerView: new (ptr: unknown) => { getInt32(offset?: number): number };
  UnsafePointer: { of(buf: Uint8Array): unknown; value(ptr: unknown): number | bigint };
};

const TYPES: Record<CType, string> = { buf: "buffer", i32: "i32", u32: "u32", u64: "u64", usize: "usize", isize: "isize" };

export function openLibc(names: string[], symbols: Record<SymbolName, SymbolSpec>): LibcBackend {
  const defs: Record<string, { parameters: string[]; result: string }> = { __errno_location: { parameters: [], result: "pointer" } };
  for (const [name, spec] of Object.entries(symbols)) defs[name] = { parameters: spec.args.map((t) => TYPES[t]), result: TYPES[spec.ret] };
  let lastError: unknown;
  for (const name of names) {
    try {
      const { symbols: fns } = Deno.dlopen(name, defs);
      const errnoLocation = fns.__errno_location!;
      let errno = 0;
      return {
        call(sym, args) {
          const r = Number(fns[sym]!(...args));
          // Read errno before anything else can run on this thread.
          if (r === -1) errno = new Deno.UnsafePointerView(errnoLocation()).getInt32();
          return r;
        },
        lastErrno: () => errno,
        address: (buf) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf))),
      };
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}
