// What the tar reader throws for a malformed archive (truncated, bad checksum, bad PAX, lying
// sizes): a kind of its own, so callers (unpack, the fuzz targets) tell an archive's fault from a
// bug. Not a KilnError: the caller adds which archive it was (`layer sha256:…: tar: …`).
export class TarFormatError extends Error {
  override name = "TarFormatError";
}
