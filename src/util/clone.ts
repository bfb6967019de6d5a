// Deep copies of JSON data (image configs, manifests). A JSON round trip, because Bun's
// structuredClone is ~30x slower on configs with thousands of history and Env entries, which
// made ENV-heavy Dockerfiles slow (issue 18). Keys whose value is undefined are dropped, as
// JSON serialisation drops them anyway.
export function cloneJson<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}
