// The plugin's HTTP API (docs/http-api.md). Every URL is relative so TensorBoard's
// --path_prefix and the iframe's <base href="plugin/attention/"> keep working.

import { parseContainer } from './container.js';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function routeUrl(route, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) q.set(k, String(v));
  }
  const qs = q.toString();
  return `./${route}${qs ? '?' + qs : ''}`;
}

async function request(url, signal) {
  const res = await fetch(url, { signal, credentials: 'same-origin' });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, msg);
  }
  return res;
}

export async function fetchJson(route, params, signal) {
  return (await request(routeUrl(route, params), signal)).json();
}

export async function fetchContainer(route, params, signal) {
  const res = await request(routeUrl(route, params), signal);
  return parseContainer(await res.arrayBuffer());
}

export const api = {
  index: (signal) => fetchJson('index', {}, signal),
  scalars: (run, signal) => fetchJson('scalars', { run }, signal),
  stats: ({ run, probe, kind }, signal) => fetchContainer('stats', { run, probe, kind }, signal),
  snapshot: ({ run, probe, kind, step, layer, head, pool, part }, signal) =>
    fetchContainer('snapshot', { run, probe, kind, step, layer, head, pool, part }, signal),
  relations: (run, signal) => fetchContainer('relations', { run }, signal),
  similarity: ({ run, probe, kind, step }, signal) => fetchContainer('similarity', { run, probe, kind, step }, signal),
  predictions: ({ run, probe, kind }, signal) => fetchJson('predictions', { run, probe, kind }, signal),
  contributions: ({ run, probe, kind }, signal) => fetchJson('contributions', { run, probe, kind }, signal),
  neurons: ({ run, probe, kind, step, layer, head }, signal) =>
    fetchContainer('neurons', { run, probe, kind, step, layer, head }, signal),
};
