// The sync filter's BPF program, run through a small classic-BPF interpreter: the runner test
// proves it in the kernel on this machine's arch; this checks every arch's jumps the same way.
import { expect, test } from "bun:test";
import { syncFilterProgram } from "../../src/run/sync-filter.ts";

const ALLOW = 0x7fff0000;
const SUCCESS = 0x00050000; // SECCOMP_RET_ERRNO | 0

/** Evaluate a seccomp program (only the instructions it uses) for one syscall. */
function evaluate(prog: Uint8Array, arch: number, nr: number): number {
  const v = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = v.getUint16(pc * 8, true);
    const jt = v.getUint8(pc * 8 + 2);
    const jf = v.getUint8(pc * 8 + 3);
    const k = v.getUint32(pc * 8 + 4, true);
    if (code === 0x20) {
      acc = k === 0 ? nr : k === 4 ? arch : NaN;
      pc++;
    } else if (code === 0x15) pc += 1 + (acc === k ? jt : jf);
    else if (code === 0x06) return k;
    else throw new Error(`unexpected BPF code 0x${code.toString(16)} at ${pc}`);
  }
  throw new Error("fell off the end of the program");
}

const TABLES = {
  // fsync, fdatasync, sync, syncfs, sync_file_range, msync; then a few that must pass (write, openat, unlinkat/close)
  x64: { arch: 0xc000003e, sync: [74, 75, 162, 306, 277, 26], other: [1, 257, 263, 3] },
  arm64: { arch: 0xc00000b7, sync: [82, 83, 81, 267, 84, 227], other: [64, 56, 35, 57] },
};

for (const [name, t] of Object.entries(TABLES)) {
  test(`${name}: the sync family is answered, everything else passes, other ABIs are untouched`, () => {
    const prog = syncFilterProgram(name)!;
    for (const nr of t.sync) expect([nr, evaluate(prog, t.arch, nr)]).toEqual([nr, SUCCESS]);
    for (const nr of t.other) expect([nr, evaluate(prog, t.arch, nr)]).toEqual([nr, ALLOW]);
    // i386's fsync is 118; a 32-bit binary keeps its real syscalls.
    for (const nr of [...t.sync, 118]) expect(evaluate(prog, 0x40000003, nr)).toBe(ALLOW);
  });
}

test("no program for an arch kiln has no table for", () => {
  expect(syncFilterProgram("riscv64")).toBeNull();
});
