// The one way kiln obtains an image named by a location: `kiln copy`'s source, `kiln warm`'s
// images, a stage's FROM and COPY --from=<image> all come here. Registry images are pulled by
// fetchImage, the single place where a reference becomes the registry and repository asked
// (mirrors and remaps belong there), so they apply to every pull alike.
import type { Image } from "../image/image.ts";
import { readOciLayout } from "../image/layout.ts";
import { formatLocation, type ImageLocation } from "../image/location.ts";
import type { Reference } from "../image/reference.ts";
import type { Platform } from "../image/types.ts";
import { KilnError } from "../util/errors.ts";
import type { RegistryClient } from "./client.ts";
import { fetchImage } from "./pull.ts";

export interface OpenedImage {
  image: Image;
  /** The registry reference the image came from (blob mounts, cache keys); none for a layout. */
  ref?: Reference;
}

/** Read the image at `loc`, taking `platform` from an index. */
export async function openImage(client: RegistryClient, loc: ImageLocation, platform: Platform): Promise<OpenedImage> {
  switch (loc.kind) {
    case "registry":
      return { image: await fetchImage(client, loc.ref, { platform }), ref: loc.ref };
    case "oci":
      return { image: readOciLayout(loc.dir, loc.tag, platform) };
    case "docker-archive":
      throw new KilnError(`${formatLocation(loc)}: reading docker archives is not supported (docker-archive: works as a destination)`);
  }
}
