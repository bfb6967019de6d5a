// The tar entry model shared by the codec (src/tar), the unpacker and the layer writer (src/fs).

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarHeader {
  /** Path inside the archive as stored (after PAX/GNU long-name resolution), e.g. "usr/bin/env" or "etc/". */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mask 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Content length; 0 for everything but regular files. */
  size: number;
  /** Modification time in seconds since the epoch; fractional when PAX gives sub-second precision. */
  mtime: number;
  atime?: number;
  ctime?: number;
  /** Symlink target or, for hardlinks, the archive path of the linked entry. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (PAX SCHILY.xattr.*), values as raw bytes (security.capability is binary). */
  xattrs?: Map<string, Uint8Array>;
  /** Any other PAX records, kept so they survive a round trip. */
  pax?: Map<string, string>;
}
