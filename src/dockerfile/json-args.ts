// The JSON (exec) form: `["a", "b"]`. Like Go's json.Decoder, only the first JSON value
// is read; text after it is ignored. Invalid JSON is not an error: the line is shell form.

export class NotStringArrayError extends Error {
  constructor() {
    super("when using JSON array syntax, arrays must be comprised of strings only");
  }
}

/** Index just past the JSON value that starts at s[0] === "[", or -1 if it never closes. */
function firstValueEnd(s: string): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      if (i >= s.length) return -1;
    } else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The elements of a JSON string array, or undefined when `rest` is not valid JSON.
 * Throws NotStringArrayError for a valid JSON array with a non-string element.
 */
export function parseJSONArray(rest: string): string[] | undefined {
  const s = rest.replace(/^[\t\n\v\f\r \u0085\u00a0]+/, "");
  if (!s.startsWith("[")) return undefined;
  const end = firstValueEnd(s);
  if (end < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(s.slice(0, end));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  for (const v of value) if (typeof v !== "string") throw new NotStringArrayError();
  return (value as string[]).map((v) => v.replace(LONE_SURROGATE, "\ufffd"));
}
