// Image references with Docker's grammar and defaults (distribution/reference, normalized names).
import { KilnError } from "../util/errors.ts";
import { isDigest } from "./digest.ts";
import { redact } from "../util/redact.ts";

export const DOCKER_HUB = "docker.io";
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

export class Reference {
  constructor(
    /** Registry host as written by users: "docker.io", "ghcr.io", "127.0.0.1:5000". */
    readonly registry: string,
    /** Repository path inside the registry: "library/busybox". */
    readonly repository: string,
    readonly tag?: string,
    readonly digest?: string,
  ) {}

  /** "registry/repository" (the repo this reference lives in). */
  context(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What the registry API addresses: the digest when there is one, else the tag. */
  identifier(): string {
    return this.digest ?? this.tag ?? "latest";
  }

  withTag(tag: string): Reference {
    if (!TAG_RE.test(tag)) throw new KilnError(`invalid tag "${tag}" for ${this.context()}`);
    return new Reference(this.registry, this.repository, tag, undefined);
  }

  withDigest(digest: string): Reference {
    if (!isDigest(digest)) throw new KilnError(`invalid digest "${digest}" for ${this.context()}`);
    return new Reference(this.registry, this.repository, this.tag, digest);
  }

  /** Same repository, another repository name on the same registry (e.g. a cache repo). */
  withRepository(repository: string): Reference {
    return parseReference(`${this.registry}/${repository}`);
  }

  /** Fully qualified: "docker.io/library/busybox:latest", "host:5000/a/b@sha256:…". */
  toString(): string {
    return this.context() + (this.tag ? `:${this.tag}` : "") + (this.digest ? `@${this.digest}` : "");
  }

  /** How Docker prints it: "busybox:latest", "user/app:1". */
  familiar(): string {
    let name = this.context();
    if (this.registry === DOCKER_HUB) name = this.repository.replace(/^library\//, "");
    return name + (this.tag ? `:${this.tag}` : "") + (this.digest ? `@${this.digest}` : "");
  }
}

/**
 * Parse a reference the way `docker pull` does: a first component with "." or ":" (or
 * "localhost", or uppercase) is a registry, else Docker Hub; single-name Hub repos get
 * "library/"; no tag and no digest means ":latest".
 */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): Reference {
  const s = input.trim();
  // A mistyped reference may carry credentials (user:password@host/…): never echoed.
  const bad = (why: string) => new KilnError(`invalid image reference "${redact(input)}": ${redact(why)}`);
  if (!s) throw bad("empty");
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad(`bad digest "${digest}" (want sha256:<64 lowercase hex digits>)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`bad tag "${tag}"`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!HOST_RE.test(registry)) throw bad(`bad registry host "${registry}"`);
    }
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (!REPO_RE.test(repository)) {
    throw bad(repository.toLowerCase() !== repository ? "repository name must be lowercase" : `bad repository name "${repository}"`);
  }
  if (registry.length + 1 + repository.length > 255) throw bad("name longer than 255 characters");
  if (!tag && !digest && opts.defaultTag !== false) tag = "latest";
  return new Reference(registry, repository, tag, digest);
}

/** Parse "registry/repo" (no tag, no digest), e.g. a --cache-repo value. */
export function parseRepository(input: string): Reference {
  const r = parseReference(input, { defaultTag: false });
  if (r.tag || r.digest) throw new KilnError(`invalid repository "${input}": must not have a tag or digest`);
  return r;
}
