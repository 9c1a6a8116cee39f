// Performance marks read by the benchmarks (bench/frontend/): `tba:<name>`, e.g. tba:grid-painted,
// tba:bigmap-painted.

export function mark(name, detail) {
  try {
    performance.mark(`tba:${name}`, { detail });
  } catch {
    /* old browsers: mark without detail */
  }
}
