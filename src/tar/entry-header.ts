// Turning a raw header block plus its PAX records and GNU long names into a TarHeader: shared by
// the pull reader (reader.ts, an async iterator of entries) and the push reader (push-reader.ts,
// fed chunks synchronously by the unpacker).
import type { RawHeader } from "./header.ts";
import { MAX_META_SIZE, paxString, parsePax, parsePaxTime, parsePaxUint, type PaxRecords } from "./pax.ts";
import type { TarEntryType, TarHeader } from "./types.ts";
import { TarFormatError } from "./errors.ts";

const TYPES: Record<number, TarEntryType> = {
  0x30: "file", // '0'
  0x00: "file", // '\0' (old regular file)
  0x37: "file", // '7' contiguous
  0x31: "hardlink",
  0x32: "symlink",
  0x33: "char",
  0x34: "block",
  0x35: "dir",
  0x36: "fifo",
};

export const PAX_X = 0x78; // 'x'
export const PAX_G = 0x67; // 'g'
export const GNU_LONGNAME = 0x4c; // 'L'
export const GNU_LONGLINK = 0x4b; // 'K'
export const GNU_SPARSE = 0x53; // 'S'

/** PAX keys folded into TarHeader fields; everything else is kept in header.pax. */
const CONSUMED = new Set([
  "path",
  "linkpath",
  "size",
  "uid",
  "gid",
  "uname",
  "gname",
  "mtime",
  "atime",
  "ctime",
  "hdrcharset",
  "SCHILY.devmajor",
  "SCHILY.devminor",
]);
const XATTR = "SCHILY.xattr.";

/** Whether `flag` is a PAX or GNU long-name header whose payload describes the next entry. */
export function isMetaFlag(flag: number): boolean {
  return flag === PAX_X || flag === PAX_G || flag === GNU_LONGNAME || flag === GNU_LONGLINK;
}

/** The size of a PAX / GNU long-name payload, bounded so a lying size cannot exhaust memory. */
export function checkMetaSize(raw: RawHeader, at: number): number {
  if (raw.size < 0 || raw.size > MAX_META_SIZE) {
    throw new TarFormatError(`tar: '${String.fromCharCode(raw.typeflag)}' extended header at offset ${at} claims ${raw.size} bytes (allowed 0..${MAX_META_SIZE})`);
  }
  return raw.size;
}

/** PAX records and GNU long names waiting for the entry they describe. */
export interface PendingMeta {
  global: PaxRecords | null;
  local: PaxRecords | null;
  longName: string | null;
  longLink: string | null;
}

/** Folds a finished meta payload into the pending state for the next entry. */
export function applyMeta(p: PendingMeta, flag: number, data: Uint8Array, at: number): void {
  if (flag === PAX_X) p.local = merge(p.local, parsePax(data, at));
  else if (flag === PAX_G) p.global = merge(p.global, parsePax(data, at));
  else {
    const nul = data.indexOf(0);
    const s = paxString(nul < 0 ? data : data.subarray(0, nul));
    if (flag === GNU_LONGNAME) p.longName = s;
    else p.longLink = s;
  }
}

/** The header of the entry `raw` starts, with the pending meta applied and then cleared. */
export function takeHeader(p: PendingMeta, raw: RawHeader, at: number): TarHeader {
  if (raw.typeflag === GNU_SPARSE) throw new TarFormatError(`tar: GNU sparse entry "${raw.name}" at offset ${at} is not supported`);
  const pax = p.global && p.local ? merge(new Map(p.global), p.local) : (p.local ?? p.global);
  const header = buildHeader(raw, pax, p.longName, p.longLink, at);
  p.local = null;
  p.longName = p.longLink = null;
  return header;
}

/** Bytes of padding after a payload of n bytes. */
export const pad = (n: number) => (512 - (n % 512)) % 512;

export function merge(into: PaxRecords | null, from: PaxRecords): PaxRecords {
  if (!into) return from;
  // An empty value deletes the keyword (POSIX: it undoes a global or earlier record).
  for (const [k, v] of from) {
    if (v.length === 0) into.delete(k);
    else into.set(k, v);
  }
  return into;
}

export function buildHeader(
  raw: RawHeader,
  pax: PaxRecords | null,
  longName: string | null,
  longLink: string | null,
  at: number,
): TarHeader {
  let name = longName ?? (raw.prefix ? `${raw.prefix}/${raw.name}` : raw.name);
  let linkname = longLink ?? raw.linkname;
  let { size, uid, gid, mtime, devmajor, devminor } = raw;
  let uname: string | undefined = raw.uname || undefined;
  let gname: string | undefined = raw.gname || undefined;
  let atime: number | undefined;
  let ctime: number | undefined;
  let xattrs: Map<string, Uint8Array> | undefined;
  let extra: Map<string, string> | undefined;

  if (pax) {
    for (const [key, v] of pax) {
      if (v.length === 0) continue; // deletion markers left over from merging
      switch (key) {
        case "path": name = paxString(v); break;
        case "linkpath": linkname = paxString(v); break;
        case "size": size = parsePaxUint(key, v); break;
        case "uid": uid = parsePaxUint(key, v); break;
        case "gid": gid = parsePaxUint(key, v); break;
        case "uname": uname = paxString(v); break;
        case "gname": gname = paxString(v); break;
        case "mtime": mtime = parsePaxTime(key, v); break;
        case "atime": atime = parsePaxTime(key, v); break;
        case "ctime": ctime = parsePaxTime(key, v); break;
        case "SCHILY.devmajor": devmajor = parsePaxUint(key, v); break;
        case "SCHILY.devminor": devminor = parsePaxUint(key, v); break;
        default:
          if (key.startsWith(XATTR)) {
            (xattrs ??= new Map()).set(key.slice(XATTR.length), v);
          } else if (key.startsWith("GNU.sparse.")) {
            throw new TarFormatError(`tar: GNU sparse entry "${name}" at offset ${at} is not supported`);
          } else if (!CONSUMED.has(key)) {
            (extra ??= new Map()).set(key, paxString(v));
          }
      }
    }
  }

  if (size < 0 || uid < 0 || gid < 0) {
    throw new TarFormatError(`tar: header at offset ${at} for "${name}" has a negative size, uid or gid`);
  }
  let type = TYPES[raw.typeflag];
  if (type === undefined) type = "file"; // POSIX: unknown typeflags read as regular files
  else if (raw.typeflag === 0 && name.endsWith("/")) type = "dir"; // v7 directory convention

  const header: TarHeader = { name, type, mode: raw.mode, uid, gid, size: type === "file" ? size : 0, mtime };
  if (uname !== undefined) header.uname = uname;
  if (gname !== undefined) header.gname = gname;
  if (atime !== undefined) header.atime = atime;
  if (ctime !== undefined) header.ctime = ctime;
  if (type === "symlink" || type === "hardlink") header.linkname = linkname;
  if (type === "char" || type === "block") {
    header.devmajor = devmajor;
    header.devminor = devminor;
  }
  if (xattrs) header.xattrs = xattrs;
  if (extra) header.pax = extra;
  return header;
}

