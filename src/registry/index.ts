// The registry client: transport (TLS, auth, retries), blob/manifest operations, pull and push.
export { RegistryClient, type BlobSource, type ManifestResponse, type UploadOptions } from "./client.ts";
export { Transport, apiHost, isLoopback, type RegistryOptions, type RegistryRequest } from "./transport.ts";
export { RegistryError } from "./errors.ts";
export { findCredential, dockerConfigDir, type Credential } from "./docker-config.ts";
export { fetchImage, remoteLayer, resolveImageManifest, type FetchImageOptions, type ResolvedManifest } from "./pull.ts";
export { pushImage, isImmutableTagError, type PushOptions, type PushResult, type BlobPushEvent, type BlobAction } from "./push.ts";
export { mapLimit } from "./limit.ts";
export { checkPushPermissions } from "./permissions.ts";
export { pullCandidates, onMirror, type PullPlan } from "./mirrors.ts";
export { checkRetryCount } from "./options.ts";
