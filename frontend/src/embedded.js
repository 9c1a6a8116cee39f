// The plugin's routes answered from the data an exported report embeds (tb_attention_plugin/export.py;
// docs/http-api.md, "Exported reports"): the index and scalars as the JSON the routes send, each stats
// and snapshot answer as its TBAT container, gzipped and base64-encoded, inflated when a view asks
// for it. Same answers, same errors (ApiError 404): the views cannot tell it from the plugin.

import { parseContainer } from './container.js';
import { ApiError } from './api.js';

/** base64 text -> bytes. */
export function base64Bytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** gzip bytes -> ArrayBuffer (the browser's own DecompressionStream: no library, no network). */
export async function gunzip(bytes) {
  if (typeof DecompressionStream === 'undefined')
    throw new Error('this browser cannot inflate the embedded data (no DecompressionStream)');
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

const keyOf = (probe, kind, step) => JSON.stringify([probe, kind, step ?? null]);

/** One layer of a full snapshot answer, as the route answers `layer=L` (a view, no copy). */
export function layerOf(full, layer) {
  const h = full.header;
  const li = h.layers.indexOf(layer);
  if (li < 0) throw new ApiError(404, `layer ${layer} does not exist: the model has ${h.layers.length} layers`);
  const size = h.heads * h.query_len * h.key_len;
  const header = { ...h, layers: [layer], shape: [1, h.heads, h.query_len, h.key_len] };
  return { header, data: full.data.subarray(li * size, (li + 1) * size) };
}

/**
 * An `api` (api.js's shape) over an export's `payload` ({run, index, scalars, stats: [{probe, kind,
 * data}], snapshots: [{probe, kind, step, data}]}); `inflate` turns the decoded base64 into the body.
 */
export function embeddedApi(payload, inflate = gunzip) {
  const blobs = new Map();
  for (const s of payload.snapshots || []) blobs.set(keyOf(s.probe, s.kind, s.step), s.data);
  for (const s of payload.stats || []) blobs.set(keyOf(s.probe, s.kind), s.data);
  const ofRun = (run) => {
    if (run !== payload.run) throw new ApiError(404, `unknown run ${JSON.stringify(run)}; this report holds one`);
  };
  const open = async (key, what) => {
    const text = blobs.get(key);
    if (text === undefined) throw new ApiError(404, `${what} is not in this report`);
    return parseContainer(await inflate(base64Bytes(text)));
  };
  return {
    index: async () => payload.index,
    scalars: async (run) => {
      ofRun(run);
      return payload.scalars;
    },
    stats: async ({ run, probe, kind }) => {
      ofRun(run);
      return open(keyOf(probe, kind), `the statistics of probe ${JSON.stringify(probe)} (${kind})`);
    },
    snapshot: async ({ run, probe, kind, step, layer }) => {
      ofRun(run);
      const full = await open(
        keyOf(probe, kind, step),
        `the snapshot of probe ${JSON.stringify(probe)} at step ${step}`,
      );
      return layer === undefined || layer === null ? full : layerOf(full, layer);
    },
  };
}
