// Parse a generated 10,000-line Dockerfile and print how long it took.
// Usage: bun scripts/bench-parse.ts [lines]   (the budget is 100 ms on Bun)
import process from "node:process";
import { parseDockerfile, planBuild } from "../src/dockerfile/index.ts";

/** A realistic mix: continuations, comments, heredocs, JSON and shell form, flags. */
export function generateDockerfile(lines: number): string {
  const out: string[] = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:bookworm"];
  let stage = 0;
  while (out.length < lines) {
    out.push(`FROM \${BASE} AS stage${stage}`, `ARG VERSION=${stage}`, `ENV APP_HOME=/opt/app${stage} PATH=/opt/bin:$PATH`);
    out.push(`WORKDIR $APP_HOME`, `# build step ${stage}`);
    out.push(
      `RUN apt-get update && \\`,
      `    apt-get install -y --no-install-recommends curl ca-certificates && \\`,
      `    # a comment inside a continuation`,
      `    rm -rf /var/lib/apt/lists/*`,
    );
    out.push(`COPY --chown=1000:1000 --chmod=0644 src/${stage}/ ./src/`);
    out.push(`RUN <<EOF`, `set -e`, `echo "stage ${stage}" > /tmp/stage`, `EOF`);
    out.push(`LABEL org.opencontainers.image.version="$VERSION" stage=${stage}`);
    out.push(`RUN ["/bin/sh", "-c", "echo exec form ${stage}"]`);
    if (stage > 0) out.push(`COPY --from=stage${stage - 1} /opt/app${stage - 1} /opt/prev`);
    out.push(`EXPOSE 80${stage % 10}/tcp`, `HEALTHCHECK --interval=30s CMD curl -f http://localhost/ || exit 1`, "");
    stage++;
  }
  return out.slice(0, lines).join("\n") + "\n";
}

if (import.meta.main) {
  const lines = Number(process.argv[2] ?? 10_000);
  const text = generateDockerfile(lines);
  const t0 = performance.now();
  const ast = parseDockerfile(text);
  const t1 = performance.now();
  const plan = planBuild(ast, { buildArgs: {} });
  const t2 = performance.now();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    parseDockerfile(text);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  console.log(
    `parsed ${lines} lines (${ast.instructions.length} instructions, ${plan.stages.length} stages): ` +
      `first parse ${(t1 - t0).toFixed(1)} ms, median of 5 more ${times[2]!.toFixed(1)} ms, plan ${(t2 - t1).toFixed(1)} ms`,
  );
}
