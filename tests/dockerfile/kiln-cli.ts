// Runs kiln's real CLI entry (main) without mod.ts's library exports, so these tests
// exercise `kiln parse` even while other subsystems are mid-change.
import process from "node:process";
import { main } from "../../src/cli/main.ts";

await main([process.execPath, "kiln", ...process.argv.slice(2)]);
