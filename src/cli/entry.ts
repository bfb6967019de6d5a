// The command-line entry: what `kiln` runs (mod.ts when started from source; the compiled
// executable's entry, scripts/compile.ts). Only the code of what runs is loaded: kiln
// re-executes itself as the RUN helper (src/run), and that process must neither parse a command
// line nor evaluate the library mod.ts exports (tens of milliseconds on every RUN).
if (process.env.KILN_RUN_HELPER === "1") {
  const { runHelper } = await import("../run/helper.ts");
  await runHelper();
} else {
  const { main } = await import("./main.ts");
  await main();
}
export {}; // a module (top-level await), with nothing to export
