// Where an image is: every command-line value and FROM name that names an image goes through
// parseImageLocation, so `kiln copy`, `kiln warm`, --destination, --cache-repo and FROM accept
// the same forms (skopeo's transport names) and fail with the same messages. Errors name the
// flag or argument and the value, with any user:password@ shown as ***@.
import { KilnError, UsageError } from "../util/errors.ts";
import { parseReference, parseRepository, type Reference } from "./reference.ts";

export type ImageLocation =
  /** A registry image: docker://REF or a plain reference. */
  | { kind: "registry"; ref: Reference }
  /** An OCI image layout directory: oci:DIR[:TAG] or oci-layout://DIR[:TAG]. */
  | { kind: "oci"; dir: string; tag?: string }
  /** A `docker save` tarball: docker-archive:FILE[:REF]. */
  | { kind: "docker-archive"; file: string; ref?: Reference };

export type LocationKind = ImageLocation["kind"];

export interface LocationRules {
  /** What the value is, for messages: "flag --destination", "argument <src>", "base image". */
  what: string;
  /** The kinds accepted here (default: all). */
  accept?: readonly LocationKind[];
  /** A registry location names a repository, without tag or digest (--cache-repo). */
  repository?: boolean;
  /** An oci: location may not carry a :TAG (the whole layout is meant, e.g. a cache). */
  noTag?: boolean;
  /** Command-line value: a bad one exits 2 (UsageError); else 1 (e.g. a Dockerfile's FROM). */
  usage?: boolean;
}

const FORMS: Record<LocationKind, string> = { registry: "docker://REF or REF", oci: "oci:DIR[:TAG]", "docker-archive": "docker-archive:FILE[:REF]" };
const KIND_NAMES: Record<LocationKind, string> = { registry: "a registry image", oci: "an OCI layout", "docker-archive": "a docker archive" };
const ALL: readonly LocationKind[] = ["registry", "oci", "docker-archive"];

/** skopeo transports kiln does not read or write, named so the message can say so. */
const UNSUPPORTED = ["containers-storage", "docker-daemon", "dir", "oci-archive", "ostree", "sif", "tarball"];

/** A trailing "@algorithm:hex" digest; any other "@" in a reference ends a user:password@ prefix. */
const DIGEST_SUFFIX = /@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** What follows user:password@: a host (and port), then "/" or the end. */
const HOST_START = /^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:.]+\])(?::\d+)?(?:\/|$)/;
const LAYOUT_PREFIX = /^(?:oci:|oci-layout:\/\/)/;

/** The part of a value that is a registry reference, after its prefix (none in an oci: directory). */
function referencePart(value: string): { prefix: string; ref: string } | undefined {
  if (LAYOUT_PREFIX.test(value)) return undefined;
  if (value.startsWith("docker-archive:")) {
    const i = value.indexOf(":", "docker-archive:".length);
    return i < 0 ? undefined : { prefix: value.slice(0, i + 1), ref: value.slice(i + 1) };
  }
  const prefix = value.match(SCHEME)?.[0] ?? "";
  return { prefix, ref: value.slice(prefix.length) };
}

/** The user:password@ (or user@) in front of a reference's host, if any, and what follows it. */
function credentials(value: string): { prefix: string; rest: string } | undefined {
  const part = referencePart(value);
  if (!part) return undefined;
  const at = part.ref.replace(DIGEST_SUFFIX, "").lastIndexOf("@");
  if (at < 0) return undefined;
  const rest = part.ref.slice(at + 1);
  return HOST_START.test(rest) ? { prefix: part.prefix, rest } : undefined;
}

/** The value as it may be printed: "user:pass@host/app" → "***@host/app". */
export function redactLocation(value: string): string {
  const c = credentials(value);
  return c ? `${c.prefix}***@${c.rest}` : value;
}

function acceptedForms(accept: readonly LocationKind[], repository?: boolean): string {
  return accept.map((k) => (k === "registry" && repository ? "REGISTRY/REPOSITORY" : FORMS[k])).join(", ");
}

/** Parse an image location under `rules`; throws a message naming `rules.what` and the (redacted) value. */
export function parseImageLocation(value: string, rules: LocationRules): ImageLocation {
  const accept = rules.accept ?? ALL;
  const shown = redactLocation(value);
  const fail = (why: string): KilnError => {
    const message = `${rules.what}: ${shown.trim() ? shown : `"${shown}"`}: ${why}`;
    return rules.usage === false ? new KilnError(message) : new UsageError(message);
  };
  const loc = parse(value, rules, fail);
  if (!accept.includes(loc.kind)) throw fail(`${KIND_NAMES[loc.kind]} is not accepted here; want ${acceptedForms(accept, rules.repository)}`);
  return loc;
}

function parse(value: string, rules: LocationRules, fail: (why: string) => KilnError): ImageLocation {
  const accept = rules.accept ?? ALL;
  // An empty value where a reference may stand is left to the reference parser's message.
  if (!value.trim() && !accept.includes("registry")) throw fail(`empty; want ${acceptedForms(accept, rules.repository)}`);
  if (credentials(value)) {
    throw fail("credentials do not belong in an image location; put them in the docker config.json (docker login)");
  }
  const reference = (s: string, repository = rules.repository): Reference => {
    try {
      return repository ? parseRepository(s) : parseReference(s);
    } catch (e) {
      throw fail((e as Error).message);
    }
  };
  if (value.startsWith("docker://")) return { kind: "registry", ref: reference(value.slice("docker://".length)) };
  const oci = value.match(LAYOUT_PREFIX)?.[0];
  if (oci) {
    const { dir, tag } = splitLayout(value.slice(oci.length));
    if (!dir) throw fail(`${oci} needs a directory`);
    if (tag !== undefined && rules.noTag) throw fail(`takes no :TAG (a whole layout is meant); got "${tag}"`);
    if (tag === "") throw fail("empty :TAG");
    return tag === undefined ? { kind: "oci", dir } : { kind: "oci", dir, tag };
  }
  if (value.startsWith("docker-archive:")) {
    const body = value.slice("docker-archive:".length);
    // FILE:REF: split at the first ":" (a file name rarely holds one; a reference often does).
    const i = body.indexOf(":");
    const file = i < 0 ? body : body.slice(0, i);
    if (!file) throw fail("docker-archive: needs a file");
    return i < 0 ? { kind: "docker-archive", file } : { kind: "docker-archive", file, ref: reference(body.slice(i + 1), false) };
  }
  const transport = value.match(/^([a-z-]+):/)?.[1];
  if (transport && UNSUPPORTED.includes(transport)) throw fail(`the ${transport}: transport is not supported; want ${acceptedForms(accept, rules.repository)}`);
  if (!accept.includes("registry")) throw fail(`want ${acceptedForms(accept, rules.repository)}`);
  return { kind: "registry", ref: reference(value) };
}

/** "DIR[:TAG]" (skopeo's oci: syntax): a colon separates a tag only when no "/" follows it. */
function splitLayout(body: string): { dir: string; tag?: string } {
  const i = body.lastIndexOf(":");
  if (i > 0 && !body.slice(i + 1).includes("/")) return { dir: body.slice(0, i), tag: body.slice(i + 1) };
  return { dir: body };
}

/** A value that must name a registry image (or repository): its reference. */
export function parseRegistryLocation(value: string, rules: Omit<LocationRules, "accept">): Reference {
  const loc = parseImageLocation(value, { ...rules, accept: ["registry"] });
  return (loc as Extract<ImageLocation, { kind: "registry" }>).ref;
}

/** How a location reads in messages (credentials cannot be in a parsed one). */
export function formatLocation(loc: ImageLocation): string {
  if (loc.kind === "registry") return `docker://${loc.ref}`;
  if (loc.kind === "oci") return `oci:${loc.dir}${loc.tag !== undefined ? `:${loc.tag}` : ""}`;
  return `docker-archive:${loc.file}${loc.ref ? `:${loc.ref}` : ""}`;
}
