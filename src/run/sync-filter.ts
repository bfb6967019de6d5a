// A seccomp filter that answers the sync family of syscalls with success without syncing.
// A RUN's result is the layer kiln snapshots afterwards, not data on the disk, so durability
// buys nothing; dpkg alone fsyncs every file it unpacks (systemd-nspawn's --suppress-sync
// does the same). The filter is inherited by every process the command starts.

/** struct seccomp_data: nr at offset 0, arch at offset 4. */
const NR_OFFSET = 0;
const ARCH_OFFSET = 4;
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
/** RET_ERRNO with errno 0: the syscall "returns 0". */
const SECCOMP_RET_SUCCESS = 0x00050000;

interface ArchSyscalls {
  auditArch: number;
  /** fsync, fdatasync, sync, syncfs, sync_file_range, msync */
  sync: number[];
}

const ARCHES: Record<string, ArchSyscalls> = {
  x64: { auditArch: 0xc000003e, sync: [74, 75, 162, 306, 277, 26] },
  arm64: { auditArch: 0xc00000b7, sync: [82, 83, 81, 267, 84, 227] },
};

/** The BPF program (struct sock_filter[]) for `arch` (process.arch names); null where kiln does not know the numbers. */
export function syncFilterProgram(arch: string = process.arch): Uint8Array | null {
  const a = ARCHES[arch];
  if (!a) return null;
  const n = a.sync.length;
  const insns: [number, number, number, number][] = [
    [BPF_LD_W_ABS, 0, 0, ARCH_OFFSET],
    // Another ABI (say a 32-bit binary): its numbers differ, leave it alone.
    [BPF_JEQ_K, 0, n + 1, a.auditArch],
    [BPF_LD_W_ABS, 0, 0, NR_OFFSET],
    ...a.sync.map((nr, i): [number, number, number, number] => [BPF_JEQ_K, n - i, 0, nr]),
    [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
    [BPF_RET_K, 0, 0, SECCOMP_RET_SUCCESS],
  ];
  const out = new Uint8Array(insns.length * 8);
  const v = new DataView(out.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    v.setUint16(i * 8, code, true);
    v.setUint8(i * 8 + 2, jt);
    v.setUint8(i * 8 + 3, jf);
    v.setUint32(i * 8 + 4, k, true);
  });
  return out;
}
