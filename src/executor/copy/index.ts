// COPY and ADD: copyInto writes into a rootfs, describeSources lists the inputs for the cache.
export { copyInto } from "./copy.ts";
export { describeSources } from "./describe.ts";
export { extractTar } from "../../fs/unpack.ts";
export { decompressAny } from "./archive.ts";
export type { CopyResult, CopySpec, SourceEntry, SourceType } from "./types.ts";
export { applyLinkedLayer, copyLinked, type LinkedCopy } from "./link.ts";
