// Media types of OCI and Docker v2 schema 2 manifests, indexes, configs and layers.

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
export const OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar";
export const OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
export const OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
// Schema 1 is deprecated and unsupported; named so the error can say so.
export const DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
export const DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

export type ImageFormat = "oci" | "docker";
export type Compression = "gzip" | "zstd" | "none";

/** Accept header for manifest requests: all four kinds kiln understands. */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ");

export function isIndex(mt: string | undefined): boolean {
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}

export function isImageManifest(mt: string | undefined): boolean {
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST;
}

export function isManifest(mt: string | undefined): boolean {
  return isIndex(mt) || isImageManifest(mt);
}

export function formatOf(manifestMediaType: string): ImageFormat {
  return manifestMediaType === DOCKER_MANIFEST || manifestMediaType === DOCKER_MANIFEST_LIST ? "docker" : "oci";
}

export function manifestMediaType(format: ImageFormat): string {
  return format === "docker" ? DOCKER_MANIFEST : OCI_MANIFEST;
}

export function indexMediaType(format: ImageFormat): string {
  return format === "docker" ? DOCKER_MANIFEST_LIST : OCI_INDEX;
}

export function configMediaType(format: ImageFormat): string {
  return format === "docker" ? DOCKER_CONFIG : OCI_CONFIG;
}

export function isLayer(mt: string): boolean {
  return mt.startsWith("application/vnd.oci.image.layer.") || mt.startsWith("application/vnd.docker.image.rootfs.");
}

/** Non-distributable / foreign layers are not pushed (their bytes live elsewhere). */
export function isForeignLayer(mt: string): boolean {
  return mt === DOCKER_FOREIGN_LAYER || mt.startsWith("application/vnd.oci.image.layer.nondistributable.");
}

/** How a layer's bytes are compressed, from its media type. */
export function layerCompression(mt: string): Compression {
  if (mt.endsWith("+zstd") || mt.endsWith(".zstd")) return "zstd";
  if (mt.endsWith("+gzip") || mt.endsWith(".gzip")) return "gzip";
  return "none";
}

/**
 * The layer media type for a manifest format and compression. Docker v2s2 has no zstd
 * type, so a zstd layer keeps the OCI type there (what containerd and buildkit do).
 */
export function layerMediaType(format: ImageFormat, compression: Compression): string {
  if (format === "docker") {
    if (compression === "gzip") return DOCKER_LAYER_GZIP;
    if (compression === "none") return DOCKER_LAYER;
    return OCI_LAYER_ZSTD;
  }
  return compression === "gzip" ? OCI_LAYER_GZIP : compression === "zstd" ? OCI_LAYER_ZSTD : OCI_LAYER;
}

/** A layer media type rewritten for another manifest format (foreign layers become OCI nondistributable). */
export function convertLayerMediaType(mt: string, format: ImageFormat): string {
  if (isForeignLayer(mt)) {
    if (format === "docker") return DOCKER_FOREIGN_LAYER;
    return mt === DOCKER_FOREIGN_LAYER ? OCI_LAYER_NONDIST_GZIP : mt;
  }
  return layerMediaType(format, layerCompression(mt));
}
