// Registry failures as errors a user can act on: they name the registry and what was asked.
import type { Reference } from "../image/reference.ts";
import { KilnError } from "../util/errors.ts";
import { stripQuery } from "./hosts.ts";

export class RegistryError extends KilnError {
  constructor(
    message: string,
    /** HTTP status, 0 when the registry could not be reached. */
    readonly status: number,
    /** First distribution-spec error code in the body ("MANIFEST_UNKNOWN", "DENIED"…), if any. */
    readonly code?: string,
    /** The Retry-After header of a 429/503, for callers that retry on their own. */
    readonly retryAfter?: string,
    /** The registry's own words ("CODE: message" from the error body), when it gave any. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** Summarise a distribution-spec error body: "MANIFEST_UNKNOWN: manifest unknown". */
export async function errorDetail(res: Response): Promise<{ code?: string; text: string }> {
  let body = "";
  try {
    body = (await res.text()).slice(0, 4096);
  } catch {
    /* the status alone will do */
  }
  try {
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return { code: e.code, text: [e.code, e.message].filter(Boolean).join(": ") };
  } catch {
    /* not JSON */
  }
  const line = body.trim().split("\n")[0]?.slice(0, 200) ?? "";
  return { text: line || res.statusText || "" };
}

/** An error for an unexpected status, naming what was asked and the registry's own words. */
export async function fail(res: Response, what: string, ref: Reference): Promise<RegistryError> {
  const d = await errorDetail(res);
  if (res.status === 403) return new RegistryError(`denied: ${what}: registry ${ref.registry} refused access${d.text ? ` (${d.text})` : ""}`, 403, d.code ?? "DENIED", undefined, d.text);
  const msg = `${what}: registry ${ref.registry} answered ${res.status}${d.text ? ` (${d.text})` : ""} [${stripQuery(res.url || "")}]`.replace(/ \[\]$/, "");
  return new RegistryError(msg, res.status, d.code, res.headers.get("retry-after") ?? undefined, d.text);
}
