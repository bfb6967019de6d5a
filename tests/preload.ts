// Loaded once by `bun test` before any test file (see bunfig.toml).
// Shared fixtures (registry, base images) start lazily in tests/env.ts and stop at exit.
process.env.KILN_TEST = "1";
