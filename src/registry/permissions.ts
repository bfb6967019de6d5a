// The push-permission check kaniko does before building (CheckPushPermissions): start a blob
// upload in each repository a build will write and cancel it. A bad or missing credential then
// fails in seconds, before any base image is pulled, instead of after a long build.
import type { Reference } from "../image/reference.ts";
import { KilnError } from "../util/errors.ts";
import type { RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";

/** Check push access to every repository in `repos` (one check per repository, all at once). */
export async function checkPushPermissions(client: RegistryClient, repos: readonly Reference[]): Promise<void> {
  const seen = new Map<string, Reference>();
  for (const r of repos) seen.set(r.context(), r);
  await Promise.all([...seen.values()].map((r) => checkOne(client, r)));
}

async function checkOne(client: RegistryClient, repo: Reference): Promise<void> {
  try {
    const r = await client.startUpload(repo);
    // The session is dropped in the background (best effort, never rejects): the build need not wait.
    if (!r.mounted) void client.cancelUpload(repo, r.location);
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    const hint = e.status === 401 || e.status === 403 ? " (checked before building; --skip-push-permission-check skips the check)" : "";
    throw new KilnError(`cannot push to ${repo.context()}: ${e.message}${hint}`);
  }
}
