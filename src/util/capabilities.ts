// kiln's own effective capabilities, from /proc: cheaper and more honest than trying and failing.
import { readFileSync } from "node:fs";

export const CAP_SYS_ADMIN = 21;

let effective: bigint | null | undefined;

export function hasCapability(bit: number): boolean {
  if (effective === undefined) {
    try {
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
      effective = m ? BigInt(`0x${m[1]}`) : null;
    } catch {
      effective = null;
    }
  }
  return effective !== null && ((effective >> BigInt(bit)) & 1n) === 1n;
}
