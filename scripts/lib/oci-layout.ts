// Minimal OCI image-layout writer (oci-layout + index.json + blobs/sha256/…). Written by hand rather
// than with umoci so the JSON bytes, and hence every digest, depend only on our inputs.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PackedLayer } from "./deterministic-tar.ts";

export const MT = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export const REF_NAME = "org.opencontainers.image.ref.name";

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** OCI architecture (and variant) of the machine we run on. */
export function hostPlatform(): Platform {
  const arch: Record<string, Platform> = {
    x64: { architecture: "amd64", os: "linux" },
    arm64: { architecture: "arm64", os: "linux", variant: "v8" },
    arm: { architecture: "arm", os: "linux", variant: "v7" },
    ia32: { architecture: "386", os: "linux" },
    ppc64: { architecture: "ppc64le", os: "linux" },
    s390x: { architecture: "s390x", os: "linux" },
    riscv64: { architecture: "riscv64", os: "linux" },
  };
  const p = arch[process.arch];
  if (!p) throw new Error(`unsupported host architecture ${process.arch}`);
  return { ...p };
}

export class LayoutWriter {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  }

  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digest.replace(/^sha256:/, ""));
  }

  /** Stores canonical-enough JSON (JSON.stringify keeps our key order) and returns its descriptor. */
  jsonBlob(mediaType: string, value: unknown): Descriptor {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const p = this.blobPath(digest);
    if (!existsSync(p)) writeFileSync(p, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  layerBlob(gzFile: string, layer: PackedLayer): Descriptor {
    const p = this.blobPath(layer.digest);
    if (!existsSync(p)) copyFileSync(gzFile, p);
    return { mediaType: MT.layerGzip, digest: layer.digest, size: layer.size };
  }

  image(o: { config: unknown; layers: Descriptor[] }): Descriptor {
    const config = this.jsonBlob(MT.config, o.config);
    return this.jsonBlob(MT.manifest, { schemaVersion: 2, mediaType: MT.manifest, config, layers: o.layers });
  }

  index(manifests: Descriptor[]): Descriptor {
    return this.jsonBlob(MT.index, { schemaVersion: 2, mediaType: MT.index, manifests });
  }

  /** Writes index.json; each entry should carry a ref.name annotation (the tag skopeo's oci:DIR:TAG uses). */
  finish(manifests: Descriptor[]): void {
    writeFileSync(join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }));
  }
}

export function imageConfig(o: {
  platform: Platform;
  env: string[];
  cmd: string[];
  diffIds: string[];
  created: string;
  createdBy: string;
}): unknown {
  return {
    created: o.created,
    architecture: o.platform.architecture,
    ...(o.platform.variant ? { variant: o.platform.variant } : {}),
    os: o.platform.os,
    config: { Env: o.env, Cmd: o.cmd },
    rootfs: { type: "layers", diff_ids: o.diffIds },
    history: [{ created: o.created, created_by: o.createdBy }],
  };
}
