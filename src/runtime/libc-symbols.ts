// The libc functions kiln calls through FFI, with their C signatures, and the interface each
// runtime's backend (libc-bun.ts, libc-deno.ts) implements. One table, so both backends bind the same set.

/** The C types used by the symbol table; each backend maps them to its FFI names. */
export type CType = "buf" | "i32" | "u32" | "u64" | "usize" | "isize";
export interface SymbolSpec {
  args: CType[];
  ret: CType;
}

/** A loaded libc: raw calls return the C return value (number) and errno is read right after. */
export interface LibcBackend {
  call(name: SymbolName, args: unknown[]): number;
  /** errno captured immediately after the last call that returned -1. */
  lastErrno(): number;
  /** Address of a buffer's bytes, for pointers inside structs; valid while `buf` is referenced. */
  address(buf: Uint8Array): bigint;
}

export const SYMBOLS = {
  lgetxattr: { args: ["buf", "buf", "buf", "usize"], ret: "isize" },
  lsetxattr: { args: ["buf", "buf", "buf", "usize", "i32"], ret: "i32" },
  llistxattr: { args: ["buf", "buf", "usize"], ret: "isize" },
  lremovexattr: { args: ["buf", "buf"], ret: "i32" },
  mknod: { args: ["buf", "u32", "u64"], ret: "i32" },
  chroot: { args: ["buf"], ret: "i32" },
  chdir: { args: ["buf"], ret: "i32" },
  fchdir: { args: ["i32"], ret: "i32" },
  unshare: { args: ["i32"], ret: "i32" },
  setns: { args: ["i32", "i32"], ret: "i32" },
  mount: { args: ["buf", "buf", "buf", "u64", "buf"], ret: "i32" },
  umount2: { args: ["buf", "i32"], ret: "i32" },
  setgroups: { args: ["usize", "buf"], ret: "i32" },
  getgroups: { args: ["i32", "buf"], ret: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], ret: "i32" },
  setresuid: { args: ["u32", "u32", "u32"], ret: "i32" },
  sethostname: { args: ["buf", "usize"], ret: "i32" },
  // prctl is variadic; passing every argument as a 64-bit integer is ABI-safe on x86_64/aarch64 Linux.
  prctl: { args: ["i32", "u64", "u64", "u64", "u64"], ret: "i32" },
  // Variadic too, for syscalls glibc has no wrapper for (seccomp).
  syscall: { args: ["u64", "u64", "u64", "u64"], ret: "isize" },
  utimensat: { args: ["i32", "buf", "buf", "i32"], ret: "i32" },
  // fcntl is variadic: the third argument as a 64-bit integer, as for prctl.
  fcntl: { args: ["i32", "i32", "u64"], ret: "i32" },
  read: { args: ["i32", "buf", "usize"], ret: "isize" },
  write: { args: ["i32", "buf", "usize"], ret: "isize" },
  kill: { args: ["i32", "i32"], ret: "i32" },
  waitpid: { args: ["i32", "buf", "i32"], ret: "i32" },
  // sighandler_t signal(int, sighandler_t): handlers passed as integers (SIG_DFL 0, SIG_IGN 1).
  signal: { args: ["i32", "u64"], ret: "isize" },
  // posix_spawn and its attribute objects (opaque structs the *_init functions fill).
  posix_spawn: { args: ["buf", "buf", "buf", "buf", "buf", "buf"], ret: "i32" },
  posix_spawnattr_init: { args: ["buf"], ret: "i32" },
  // The flags argument is a short; an i32 in its register is the same call on x86_64/aarch64.
  posix_spawnattr_setflags: { args: ["buf", "i32"], ret: "i32" },
  posix_spawnattr_setsigmask: { args: ["buf", "buf"], ret: "i32" },
  posix_spawnattr_setsigdefault: { args: ["buf", "buf"], ret: "i32" },
  posix_spawnattr_setpgroup: { args: ["buf", "i32"], ret: "i32" },
  posix_spawn_file_actions_init: { args: ["buf"], ret: "i32" },
  posix_spawn_file_actions_adddup2: { args: ["buf", "i32", "i32"], ret: "i32" },
} satisfies Record<string, SymbolSpec>;
export type SymbolName = keyof typeof SYMBOLS;

/** glibc first, then musl (Alpine) names. */
export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];
