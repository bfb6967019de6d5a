// Parser directives kiln reads but does not act on like BuildKit would: `# syntax=` names a
// frontend image that BuildKit would run (kiln always uses its own), `# check=` configures build
// checks (kiln runs none). Each gets one line of warning instead of silence.

/** docker/dockerfile:1.x (any registry prefix docker.io, a digest pin) is the frontend kiln's built-in one follows. */
const OFFICIAL = /^(?:(?:docker\.io|index\.docker\.io)\/)?docker\/dockerfile(?::(?:1(?:\.\d+){0,2}|latest))?(?:@sha256:[0-9a-f]{64})?$/;

export function directiveWarnings(directives: Record<string, string>, file: string): string[] {
  const out: string[] = [];
  const syntax = directives.syntax?.trim();
  if (syntax && !OFFICIAL.test(syntax)) {
    out.push(`${file}: # syntax=${syntax}: external frontends are not run; kiln builds with its built-in Dockerfile frontend (docker/dockerfile 1.x)`);
  }
  const check = directives.check?.trim();
  if (check !== undefined && !/^skip\s*=\s*all$/i.test(check)) {
    out.push(`${file}: # check=${check}: kiln runs no build checks, so this directive has no effect`);
  }
  return out;
}
