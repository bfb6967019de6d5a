// Token scopes of distribution's auth spec for one repository, as every request names them.
import type { Reference } from "../image/reference.ts";

export function pull(ref: Reference): string {
  return `repository:${ref.repository}:pull`;
}

export function push(ref: Reference): string {
  return `repository:${ref.repository}:pull,push`;
}
