// Test archives from a list of entries, made by kiln's own tar writer: regular files by default
// (mode 0644, uid/gid 0, a fixed mtime), any header field overridable, bodies as text or bytes.
import { TarWriter } from "../../src/tar/writer.ts";
import type { TarHeader } from "../../src/tar/types.ts";

export type TarEntrySpec = Partial<TarHeader> & { name: string; body?: string | Uint8Array };

export async function tarOf(entries: TarEntrySpec[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new TarWriter((c) => void parts.push(c.slice()));
  for (const e of entries) {
    const body = e.body === undefined ? undefined : typeof e.body === "string" ? new TextEncoder().encode(e.body) : e.body;
    const { body: _, ...h } = e;
    await w.add({ type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: body?.length ?? 0, ...h } as TarHeader, body);
  }
  await w.finish();
  return Buffer.concat(parts);
}
