// The shared real test environment: registries and base images, started lazily once per `bun test`
// run (one process for all files, so these module-level promises are shared) and stopped at exit.
// bun test runs no process "exit" hooks, so nothing here relies on them: each registry's watchdog
// (scripts/registry.ts) reads a pipe from this process and, when the pipe closes because we ended,
// crashed or were killed, stops the registry and deletes its temp dir.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { randomBytes } from "node:crypto";
import { startRegistry, type RegistryHandle } from "../scripts/registry.ts";
import { ensureBaseLayouts, pushBaseImages, pushLayout, type BaseImageRefs, type BaseLayouts } from "../scripts/base-images.ts";
import { ensureMultiArchLayout, pushMultiArchImages, type MultiArchRefs } from "../scripts/base-images.ts";

export type { RegistryHandle, BaseImageRefs, BaseLayouts, MultiArchRefs };

let plain: Promise<RegistryHandle> | undefined;
let auth: Promise<RegistryHandle> | undefined;
let tls: Promise<RegistryHandle> | undefined;
let mtls: Promise<RegistryHandle> | undefined;
let mirror: Promise<RegistryHandle> | undefined;
let pushedBusybox: Promise<BaseImageRefs> | undefined;
let pushedDebian: Promise<BaseImageRefs> | undefined;
let pushedMultiArch: Promise<MultiArchRefs> | undefined;
let signalsHooked = false;

// Turn Ctrl-C / kill into a normal exit so the "exit" hooks (registry shutdown, temp dirs) run.
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
  process.once("SIGHUP", () => process.exit(129));
}

/** Shared plain-HTTP registry. */
export function registry(): Promise<RegistryHandle> {
  hookSignals();
  requireTool("docker-registry", "docker-registry");
  return (plain ??= startRegistry());
}

/** Shared htpasswd (basic auth) registry; username and password are set on the handle. */
export function authRegistry(): Promise<RegistryHandle> {
  hookSignals();
  requireTool("docker-registry", "docker-registry");
  requireTool("python3", "python3");
  return (auth ??= startRegistry({ auth: { username: "kiln-test", password: randomBytes(12).toString("base64url") } }));
}

/** Shared self-signed TLS registry; caFile is set on the handle. */
export function tlsRegistry(): Promise<RegistryHandle> {
  hookSignals();
  requireTool("docker-registry", "docker-registry");
  requireTool("openssl", "openssl");
  return (tls ??= startRegistry({ tls: true }));
}

/** Shared TLS registry that requires a client certificate; clientCert (cert, key, its CA) and caFile are set on the handle. */
export function mtlsRegistry(): Promise<RegistryHandle> {
  hookSignals();
  requireTool("docker-registry", "docker-registry");
  requireTool("openssl", "openssl");
  return (mtls ??= startRegistry({ mtls: true }));
}

/** A second plain registry, for mirror tests (images pushed there under docker.io's names, e.g. library/busybox). */
export function mirrorRegistry(): Promise<RegistryHandle> {
  hookSignals();
  requireTool("docker-registry", "docker-registry");
  return (mirror ??= startRegistry());
}

let debianPrefetched = false;

// On a cold cache the debian build (debootstrap) takes ~30 s to minutes; starting it as soon as
// any test wants base images keeps it from eating the whole per-test timeout of whoever needs it first.
function prefetchDebian(): void {
  if (debianPrefetched) return;
  debianPrefetched = true;
  try {
    requireBaseImageTools(true);
  } catch {
    return; // the test that needs debian reports the missing tool
  }
  ensureBaseLayouts({ debian: true }).catch(() => {}); // a real caller gets (and retries) the error
}

/** OCI image layouts of the base images (built once, cached in .cache/base/). */
export function baseLayouts(opts: { debian?: boolean } = {}): Promise<BaseLayouts> {
  requireBaseImageTools(opts.debian);
  prefetchDebian();
  return ensureBaseLayouts(opts);
}

/** Base images pushed into registry(): references like 127.0.0.1:PORT/busybox:latest. */
export async function baseImages(opts: { debian?: boolean } = {}): Promise<BaseImageRefs> {
  requireBaseImageTools(opts.debian);
  prefetchDebian();
  const reg = await registry();
  pushedBusybox ??= pushBaseImages(reg, ["busybox"]);
  const bb = await pushedBusybox;
  if (!opts.debian) return bb;
  pushedDebian ??= ensureBaseLayouts({ debian: true }).then(async (l) => {
    const deb = await pushLayout(reg, l.debian!, "debian");
    return { ...bb, debian: deb.oci, debianV2s2: deb.v2s2 };
  });
  return pushedDebian;
}

/**
 * busybox for linux/amd64 and linux/arm64/v8 in registry(): an OCI index (busybox-multi:latest) and
 * each image alone. The other architecture's busybox-static comes from apt (scripts/install-deps adds
 * the architecture); cached in .cache/base like the others.
 */
export async function multiArchImages(): Promise<MultiArchRefs> {
  const refs = await baseImages();
  requireTool("apt-get", "apt");
  requireTool("dpkg-deb", "dpkg");
  const reg = await registry();
  pushedMultiArch ??= pushMultiArchImages(reg, refs.busybox);
  return pushedMultiArch;
}

/** The OCI layout behind multiArchImages() (tags latest = index, amd64, arm64). */
export function multiArchLayout(): Promise<string> {
  requireBaseImageTools();
  return ensureMultiArchLayout();
}

function requireBaseImageTools(debian?: boolean): void {
  requireTool("busybox", "busybox-static");
  requireTool("skopeo", "skopeo");
  requireTool("tar", "tar");
  requireTool("gzip", "gzip");
  if (debian) requireTool("debootstrap", "debootstrap");
}

/** Throws "X is not installed: apt-get install Y" unless X is an executable on PATH (or in /usr/sbin, /sbin). */
export function requireTool(name: string, aptPackage: string): void {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const d of dirs) {
    if (!d) continue;
    try {
      accessSync(join(d, name), constants.X_OK);
      return;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} is not installed: apt-get install ${aptPackage}`);
}
