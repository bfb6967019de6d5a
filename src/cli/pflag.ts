// A command-line parser with Go pflag's syntax, because kaniko's users write their flags that way
// (`--cache=true`, `--no-push`, `-d ref`, `--build-arg=A=1`) and commander reads some of those
// differently. It only splits and types the words; what a flag means is the caller's business.
//
// pflag's rules, kept here:
//   --bool, --bool=true|false|1|0|t|f|TRUE|True|FALSE|False  (never a separate "true" word)
//   --name value, --name=value   (the next word is taken even when it starts with "-")
//   -x value, -xvalue, -x=value; single-letter bools may be grouped (-ab)
//   "--" ends the flags; a lone "-" is an argument
import { UsageError } from "../util/errors.ts";

/** string: last one wins; list and map: every occurrence kept in order (the caller splits maps). */
export type FlagType = "bool" | "string" | "int" | "duration" | "list" | "map";

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  /** Placeholder word in the help ("path", "key=value"). */
  arg?: string;
  help: string;
  /** The default as the help shows it. */
  defaultText?: string;
  /** A deprecated spelling of another flag: the value goes to that flag and a warning is given. */
  aliasOf?: string;
  hidden?: boolean;
}

export type FlagValue = boolean | string | string[];

export interface ParsedArgs {
  /** By canonical flag name; only flags that were given. */
  values: Map<string, FlagValue>;
  positional: string[];
  /** One line per deprecated spelling used. */
  warnings: string[];
  help: boolean;
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** strconv.ParseBool, which pflag uses for bool flags. */
export function parseGoBool(flag: string, v: string): boolean {
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`flag --${flag}: invalid boolean "${v}" (use --${flag}, --${flag}=true or --${flag}=false)`);
}

export function parsePflags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const out: ParsedArgs = { values: new Map(), positional: [], warnings: [], help: false };

  const set = (spec: FlagSpec, value: string | undefined, spelled: string) => {
    const target = spec.aliasOf ? byName.get(spec.aliasOf)! : spec;
    if (spec.aliasOf) {
      const w = `flag --${spec.name} is deprecated, use --${target.name}`;
      if (!out.warnings.includes(w)) out.warnings.push(w);
    }
    if (target.type === "bool") {
      out.values.set(target.name, value === undefined ? true : parseGoBool(spelled, value));
    } else if (target.type === "list" || target.type === "map") {
      const prev = out.values.get(target.name);
      out.values.set(target.name, [...(Array.isArray(prev) ? prev : []), value!]);
    } else {
      out.values.set(target.name, value!);
    }
  };
  const isBool = (spec: FlagSpec) => (spec.aliasOf ? byName.get(spec.aliasOf)! : spec).type === "bool";

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (name === "help") {
        out.help = true;
        continue;
      }
      const spec = byName.get(name);
      if (!spec) throw unknownFlag(`--${name}`, specs);
      if (eq >= 0) set(spec, a.slice(eq + 1), name);
      else if (isBool(spec)) set(spec, undefined, name);
      else if (i + 1 < argv.length) set(spec, argv[++i]!, name);
      else throw new UsageError(`flag --${name}: needs a value`);
      continue;
    }
    if (a.startsWith("-") && a !== "-") {
      // A group of short flags: bools until one that takes a value, which takes the rest.
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        if (c === "h") {
          out.help = true;
          continue;
        }
        const spec = byShort.get(c);
        if (!spec) throw unknownFlag(`-${c}`, specs, a);
        const rest = a.slice(j + 1);
        if (isBool(spec)) {
          if (rest.startsWith("=")) {
            set(spec, rest.slice(1), spec.name);
            break;
          }
          set(spec, undefined, spec.name);
          continue;
        }
        if (rest !== "") set(spec, rest.startsWith("=") ? rest.slice(1) : rest, spec.name);
        else if (i + 1 < argv.length) set(spec, argv[++i]!, spec.name);
        else throw new UsageError(`flag -${c} (--${spec.name}): needs a value`);
        break;
      }
      continue;
    }
    out.positional.push(a);
  }
  return out;
}

function unknownFlag(flag: string, specs: readonly FlagSpec[], word?: string): UsageError {
  const guess = didYouMean(flag.replace(/^-+/, ""), specs.filter((s) => !s.hidden).map((s) => s.name));
  const where = word && word !== flag ? ` in ${word}` : "";
  return new UsageError(`unknown flag ${flag}${where}${guess ? ` (did you mean --${guess}?)` : ""}`);
}

/** The closest name within a few edits (or the one the word is a prefix of), for "did you mean". */
export function didYouMean(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = editDistance(word.toLowerCase(), n.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 4))) return best;
  return word.length >= 3 ? names.find((n) => n.startsWith(word)) : undefined;
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: a swap of two neighbours ("cahce") counts as one edit.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The help text of a flag table, pflag style: "  -f, --dockerfile path   help (default ...)". */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.filter((s) => !s.hidden && !s.aliasOf).map((s) => {
    const arg = s.type === "bool" ? "" : ` ${s.arg ?? s.type}`;
    const left = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${arg}`;
    return [left, s.help + (s.defaultText !== undefined ? ` (default ${s.defaultText})` : "")] as const;
  });
  const w = Math.min(44, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows.map(([l, h]) => `  ${l.padEnd(w)}${l.length >= w ? "\n  " + " ".repeat(w) : ""}${h}`).join("\n");
}
