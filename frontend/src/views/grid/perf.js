// Performance marks read by the benchmark (bench/frontend/bench_frontend.py): `tba:<name>`.

export function mark(name, detail) {
  try {
    performance.mark(`tba:${name}`, { detail });
  } catch {
    /* old browsers: mark without detail */
  }
}
