// One redaction for everything kiln prints: the CLI's error printer and the logger pass every
// message through redact(), so a credential in a flag, a URL, a registry answer or a RUN's output
// never reaches the terminal or a CI log. It hides what looks like a credential (userinfo in URLs
// and references, Authorization values, password/token/secret assignments and JSON fields) and
// every value registered as a secret (registry passwords and tokens read from config.json).

const MASK = "***";

// Shorter values would mask ordinary words and digits all over the output.
const MIN_SECRET = 4;
const known = new Set<string>();

/** Mask this value wherever it appears from now on (a registry password, an identity token). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET) known.add(value);
}

// A host follows userinfo's "@"; a digest does not (`name:tag@sha256:…` is a reference).
const HOST_AHEAD = "(?=[A-Za-z0-9[])(?![a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,})";
const RULES: [RegExp, string][] = [
  // scheme://user:password@host, scheme://token@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"'<>]+@/gi, `$1${MASK}@`],
  // user:password@host/repo (a reference or host without a scheme)
  [new RegExp(`[^\\s"'/@:=<>]+:[^\\s"'/@<>]+@${HOST_AHEAD}`, "g"), `${MASK}@`],
  // Authorization: Basic …, Bearer …, token …
  [/\b(basic|bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${MASK}`],
  // "password": "…", "auth": "…", "identitytoken": "…", "registrytoken": "…" (JSON, config.json)
  [/"((?:[a-z_]*(?:password|passwd|secret|token|credential)[a-z_]*)|auth|api_?key)"(\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `"$1"$2"${MASK}"`],
  // password=…, API_TOKEN=…, SSH_KEY=…, ?access_token=… (assignments, build args, query strings)
  [/\b([A-Za-z0-9_.-]*(?:password|passwd|secret|token|credential|api_?key|_key)[A-Za-z0-9_]*)=(?!\*\*\*)[^\s&"',;]+/gi, `$1=${MASK}`],
];

/** `text` with userinfo, credential-looking values and every registered secret replaced by "***". */
export function redact(text: string): string {
  let out = text;
  for (const v of known) if (out.includes(v)) out = out.split(v).join(MASK);
  for (const [re, to] of RULES) out = out.replace(re, to);
  return out;
}
