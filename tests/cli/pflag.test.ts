// pflag's command-line syntax, table-driven: every accepted form of each flag type, and the
// errors for what pflag rejects.
import { describe, expect, test } from "bun:test";
import { didYouMean, parseGoBool, parsePflags, type FlagSpec, type FlagValue } from "../../src/cli/pflag.ts";
import { UsageError } from "../../src/util/errors.ts";

const SPECS: FlagSpec[] = [
  { name: "cache", type: "bool", help: "" },
  { name: "ignore-var-run", type: "bool", help: "" },
  { name: "force", short: "F", type: "bool", help: "" },
  { name: "quiet", short: "q", type: "bool", help: "" },
  { name: "dockerfile", short: "f", type: "string", help: "" },
  { name: "push-retry", type: "int", help: "" },
  { name: "destination", short: "d", type: "list", help: "" },
  { name: "registry-map", type: "map", help: "" },
  { name: "snapshot-mode", type: "string", help: "" },
  { name: "snapshotMode", type: "string", help: "", aliasOf: "snapshot-mode" },
  { name: "whitelist-var-run", type: "bool", help: "", aliasOf: "ignore-var-run" },
];

const parse = (...argv: string[]) => Object.fromEntries(parsePflags(argv, SPECS).values);

describe("pflag syntax", () => {
  const cases: [string, string[], Record<string, FlagValue>][] = [
    ["bool alone", ["--cache"], { cache: true }],
    ["bool =true", ["--cache=true"], { cache: true }],
    ["bool =false", ["--cache=false"], { cache: false }],
    ["bool =1 / =0", ["--cache=1", "--ignore-var-run=0"], { cache: true, "ignore-var-run": false }],
    ["bool =T / =F / =TRUE / =False", ["--cache=T", "--ignore-var-run=False"], { cache: true, "ignore-var-run": false }],
    ["bool does not take the next word", ["--cache", "--dockerfile", "x"], { cache: true, dockerfile: "x" }],
    ["last bool wins", ["--cache", "--cache=false"], { cache: false }],
    ["string with space", ["--dockerfile", "a/Dockerfile"], { dockerfile: "a/Dockerfile" }],
    ["string with =", ["--dockerfile=a/Dockerfile"], { dockerfile: "a/Dockerfile" }],
    ["string value with = in it", ["--dockerfile=a=b"], { dockerfile: "a=b" }],
    ["string value starting with -", ["--dockerfile", "-"], { dockerfile: "-" }],
    ["empty value", ["--dockerfile="], { dockerfile: "" }],
    ["short with space", ["-f", "x"], { dockerfile: "x" }],
    ["short glued", ["-fx"], { dockerfile: "x" }],
    ["short with =", ["-f=x"], { dockerfile: "x" }],
    ["short bools grouped, then a value flag", ["-Fqf", "x"], { force: true, quiet: true, dockerfile: "x" }],
    ["short bool =false", ["-F=false"], { force: false }],
    ["int", ["--push-retry", "3"], { "push-retry": "3" }],
    ["int =", ["--push-retry=-1"], { "push-retry": "-1" }],
    ["list repeated, both forms", ["-d", "a", "--destination=b", "-dc"], { destination: ["a", "b", "c"] }],
    ["map repeated", ["--registry-map", "a=b;c=d", "--registry-map=e=f"], { "registry-map": ["a=b;c=d", "e=f"] }],
    ["deprecated spelling goes to the new flag", ["--snapshotMode=redo"], { "snapshot-mode": "redo" }],
    ["deprecated bool spelling", ["--whitelist-var-run=false"], { "ignore-var-run": false }],
  ];
  test.each(cases)("%s", (_name, argv, want) => {
    expect(parse(...argv)).toEqual(want);
  });

  test("positional words and --", () => {
    const p = parsePflags(["a", "--cache", "-", "--", "--dockerfile", "x"], SPECS);
    expect(p.positional).toEqual(["a", "-", "--dockerfile", "x"]);
    expect(p.values.get("cache")).toBe(true);
    expect(p.values.has("dockerfile")).toBe(false);
  });

  test("deprecated spellings warn once", () => {
    const p = parsePflags(["--snapshotMode", "full", "--snapshotMode=time", "--whitelist-var-run"], SPECS);
    expect(p.warnings).toEqual(["flag --snapshotMode is deprecated, use --snapshot-mode", "flag --whitelist-var-run is deprecated, use --ignore-var-run"]);
  });

  test("--help and -h", () => {
    expect(parsePflags(["--help"], SPECS).help).toBe(true);
    expect(parsePflags(["-h"], SPECS).help).toBe(true);
    expect(parsePflags(["--cache"], SPECS).help).toBe(false);
  });

  const errors: [string, string[], string][] = [
    ["unknown long flag with a guess", ["--cahce"], "unknown flag --cahce (did you mean --cache?)"],
    ["unknown long flag with =", ["--dockerfiel=x"], "unknown flag --dockerfiel (did you mean --dockerfile?)"],
    ["unknown flag without a guess", ["--zzzzzzzz"], "unknown flag --zzzzzzzz"],
    ["unknown short flag", ["-x"], "unknown flag -x"],
    ["unknown short in a group", ["-Fx"], "unknown flag -x in -Fx"],
    ["bool with a bad value", ["--cache=yes"], 'flag --cache: invalid boolean "yes"'],
    ["missing value", ["--dockerfile"], "flag --dockerfile: needs a value"],
    ["missing short value", ["-f"], "flag -f (--dockerfile): needs a value"],
  ];
  test.each(errors)("error: %s", (_name, argv, message) => {
    let err: unknown;
    try {
      parsePflags(argv, SPECS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toStartWith(message);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("helpers", () => {
  test("parseGoBool is strconv.ParseBool", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) expect(parseGoBool("x", t)).toBe(true);
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) expect(parseGoBool("x", f)).toBe(false);
    for (const bad of ["yes", "", "tRUE", "2"]) expect(() => parseGoBool("x", bad)).toThrow(UsageError);
  });

  test("didYouMean", () => {
    const names = ["cache", "cache-dir", "cache-repo", "destination", "snapshot-mode"];
    expect(didYouMean("cahce", names)).toBe("cache");
    expect(didYouMean("cache-rep", names)).toBe("cache-repo");
    expect(didYouMean("destinaton", names)).toBe("destination");
    expect(didYouMean("snapshot", names)).toBe("snapshot-mode");
    expect(didYouMean("qqqqqqq", names)).toBeUndefined();
  });
});
