// The image model: references, media types, manifests/configs, platforms, Images and their sinks.
export * from "./digest.ts";
export * from "./reference.ts";
export * from "./media-types.ts";
export type * from "./types.ts";
export * from "./platform.ts";
export * from "./image.ts";
export * from "./layer.ts";
export * from "./mutate.ts";
export * from "./layout.ts";
export * from "./docker-archive.ts";
