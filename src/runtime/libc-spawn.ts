// posix_spawn(3) through FFI, for the resident run helper: it starts each RUN command from its JS
// thread (whose root, cwd and namespaces the child inherits) without a pre-exec hook. Signal
// dispositions and mask are reset, ids taken from the real ones (POSIX_SPAWN_RESETIDS), stdin set.
import { libcError } from "./libc-errors.ts";
import { lib } from "./libc-loader.ts";

const POSIX_SPAWN_RESETIDS = 0x01;
const POSIX_SPAWN_SETPGROUP = 0x02;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** sizeof(sigset_t) in glibc and musl. */
const SIGSET_BYTES = 128;
/** posix_spawnattr_t / posix_spawn_file_actions_t are opaque: generously more than glibc's 336 / 80 bytes. */
const ATTR_BYTES = 1024;
const ACTIONS_BYTES = 512;

export interface SpawnRequest {
  /** The executable (a path as execve takes it). */
  path: string;
  /** argv, argv[0] included. */
  argv: string[];
  /** "K=V" strings. */
  env: string[];
  /** This descriptor becomes the child's stdin (0); 1 and 2 are inherited. */
  stdin: number;
  /** Effective ids := real ids in the child before exec (the parent set real = the user's). */
  resetIds: boolean;
  /** Put the child in a new process group of its own (its pid). */
  newProcessGroup: boolean;
}

/** Every signal back to its default action in the child, except KILL and STOP (which cannot be). */
function defaultSignals(): Uint8Array {
  const set = new Uint8Array(SIGSET_BYTES);
  for (let sig = 1; sig <= 64; sig++) {
    if (sig === 9 || sig === 19) continue;
    set[(sig - 1) >> 3]! |= 1 << ((sig - 1) & 7);
  }
  return set;
}

interface Prepared {
  attr: Uint8Array;
  actions: Uint8Array;
}
// Built once per (stdin, flags) and kept referenced: glibc's file actions hold a malloc'ed array.
const prepared = new Map<string, Prepared>();

function prepare(req: SpawnRequest): Prepared {
  const key = `${req.stdin}:${req.resetIds}:${req.newProcessGroup}`;
  const have = prepared.get(key);
  if (have) return have;
  const l = lib();
  const attr = new Uint8Array(ATTR_BYTES);
  const actions = new Uint8Array(ACTIONS_BYTES);
  const must = (name: string, r: number) => {
    if (r !== 0) throw libcError(name, r);
  };
  must("posix_spawnattr_init", l.call("posix_spawnattr_init", [attr]));
  let flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (req.resetIds) flags |= POSIX_SPAWN_RESETIDS;
  if (req.newProcessGroup) flags |= POSIX_SPAWN_SETPGROUP;
  must("posix_spawnattr_setflags", l.call("posix_spawnattr_setflags", [attr, flags]));
  must("posix_spawnattr_setsigmask", l.call("posix_spawnattr_setsigmask", [attr, new Uint8Array(SIGSET_BYTES)]));
  must("posix_spawnattr_setsigdefault", l.call("posix_spawnattr_setsigdefault", [attr, defaultSignals()]));
  if (req.newProcessGroup) must("posix_spawnattr_setpgroup", l.call("posix_spawnattr_setpgroup", [attr, 0]));
  must("posix_spawn_file_actions_init", l.call("posix_spawn_file_actions_init", [actions]));
  must("posix_spawn_file_actions_adddup2", l.call("posix_spawn_file_actions_adddup2", [actions, req.stdin, 0]));
  const p = { attr, actions };
  prepared.set(key, p);
  return p;
}

const encoder = new TextEncoder();

/** NUL-terminated strings packed in one buffer, and a NULL-terminated array of pointers to them. */
function stringArray(items: string[]): { strings: Uint8Array; pointers: Uint8Array } {
  const encoded = items.map((s) => encoder.encode(s));
  const size = encoded.reduce((n, b) => n + b.length + 1, 0);
  const strings = new Uint8Array(Math.max(size, 128));
  const pointers = new Uint8Array(Math.max((items.length + 1) * 8, 128));
  const view = new DataView(pointers.buffer);
  const base = lib().address(strings);
  let off = 0;
  encoded.forEach((b, i) => {
    strings.set(b, off);
    view.setBigUint64(i * 8, base + BigInt(off), true);
    off += b.length + 1;
  });
  return { strings, pointers };
}

/** Start the process; returns its pid. Exec failures (ENOENT, ENOEXEC, EACCES) throw with that code. */
export function spawnProcess(req: SpawnRequest): number {
  const { attr, actions } = prepare(req);
  const argv = stringArray(req.argv);
  const env = stringArray(req.env);
  const path = encoder.encode(`${req.path}\0`);
  const pid = new Int32Array(4);
  const r = lib().call("posix_spawn", [new Uint8Array(pid.buffer), path, actions, attr, argv.pointers, env.pointers]);
  // Referenced until here, so the engine cannot free what the pointer arrays point into.
  void [argv.strings, env.strings];
  if (r !== 0) throw libcError("posix_spawn", r, req.path);
  return pid[0]!;
}
