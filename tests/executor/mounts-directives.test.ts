// Parser directives kiln does not act on as BuildKit would: `# syntax=` of an external frontend and
// `# check=` (BuildKit's Dockerfile reference, "Parser directives") each give one warning line.
import { describe, expect, test } from "bun:test";
import { directiveWarnings } from "../../src/executor/directives.ts";
import { parseDockerfile } from "../../src/dockerfile/index.ts";

const warn = (text: string) => directiveWarnings(parseDockerfile(text, "Dockerfile").directives, "Dockerfile");

describe("directive warnings", () => {
  test("# syntax= of docker/dockerfile 1.x is the frontend kiln follows: no warning", () => {
    for (const s of ["docker/dockerfile:1", "docker/dockerfile:1.7", "docker.io/docker/dockerfile:1.4.3", "docker/dockerfile", `docker/dockerfile:1@sha256:${"a".repeat(64)}`]) {
      expect(warn(`# syntax=${s}\nFROM scratch\n`)).toEqual([]);
    }
  });

  test("# syntax= of any other frontend: a warning that the built-in frontend is used", () => {
    for (const s of ["docker/dockerfile:1-labs", "example.com/my/frontend:2", "tonistiigi/dockerfile:ssh"]) {
      expect(warn(`# syntax=${s}\nFROM scratch\n`)).toEqual([`Dockerfile: # syntax=${s}: external frontends are not run; kiln builds with its built-in Dockerfile frontend (docker/dockerfile 1.x)`]);
    }
  });

  test("# check= warns that no checks run, except skip=all (which kiln honours by running none)", () => {
    expect(warn("# check=error=true\nFROM scratch\n")).toEqual(["Dockerfile: # check=error=true: kiln runs no build checks, so this directive has no effect"]);
    expect(warn("# check=skip=all\nFROM scratch\n")).toEqual([]);
    expect(warn("FROM scratch\n")).toEqual([]);
  });
});
