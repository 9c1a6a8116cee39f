// The plugin's routes answered from the data an exported report embeds (tb_attention_plugin/tools/export.py;
// docs/http-api.md, "Exported reports"): the index and scalars as the JSON the routes send, every
// other answer (stats, snapshots, head summaries and their block means, relations, predictions, similarity, neurons, contributions) as its
// TBAT container or JSON body, gzipped and base64-encoded, inflated when a view asks for it. Same answers, same errors (ApiError 404): the views cannot tell it from the plugin.

import { parseContainer } from './container.js';
import { ApiError } from './api.js';
import { layerOf, headOf } from './slices.js';

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

/** The embedded answers by route and key: `container(run, key, what)` / `json(...)` inflate one,
 * ApiError 404 naming `what` when the report does not hold it. */
function embeddedBodies(payload, inflate) {
  const blobs = new Map();
  const put = (route, list, key) => {
    for (const s of list || []) blobs.set(JSON.stringify([route, ...key(s)]), s.data);
  };
  put('snapshot', payload.snapshots, (s) => [s.probe, s.kind, s.step]);
  put('stats', payload.stats, (s) => [s.probe, s.kind]);
  put('predictions', payload.predictions, (s) => [s.probe, s.kind]);
  put('similarity', payload.similarity, (s) => [s.probe, s.kind, s.step]);
  put('contributions', payload.contributions, (s) => [s.probe, s.kind]);
  put('neurons', payload.neurons, (s) => [s.probe, s.kind, s.step, s.layer, s.head]);
  put('summary', payload.summaries, (s) => [s.probe, s.kind, s.step, s.layer, s.head]);
  put('summary_means', payload.summary_means, (s) => [s.probe, s.kind, s.step, null]); // every layer's
  if (payload.relations) blobs.set(JSON.stringify(['relations']), payload.relations);
  const ofRun = (run) => {
    if (run !== payload.run) throw new ApiError(404, `unknown run ${JSON.stringify(run)}; this report holds one`);
  };
  const body = async (run, key, what) => {
    ofRun(run);
    const text = blobs.get(JSON.stringify(key));
    if (text === undefined) throw new ApiError(404, `${what} is not in this report`);
    return inflate(base64Bytes(text));
  };
  return {
    ofRun,
    container: async (...args) => parseContainer(await body(...args)),
    json: async (...args) => JSON.parse(new TextDecoder().decode(await body(...args))),
  };
}

/**
 * An `api` (api.js's shape) over an export's `payload` ({run, index, scalars, stats: [{probe, kind,
 * data}], snapshots: [{probe, kind, step, data}], summaries: [{probe, kind, step, layer, head, data}]
 * (the summarized heads of those snapshots), summary_means: [{probe, kind, step, data}] (all their block
 * means, per snapshot), relations, predictions, similarity, contributions,
 * neurons: the other cards' answers, tb_attention_plugin/export_views.py}); `inflate` turns the decoded
 * base64 into the body.
 */
export function embeddedApi(payload, inflate = gunzip) {
  const { ofRun, container, json } = embeddedBodies(payload, inflate);
  const of = (probe) => `probe ${JSON.stringify(probe)}`;
  return {
    index: async () => payload.index,
    scalars: async (run) => {
      ofRun(run);
      return payload.scalars;
    },
    stats: ({ run, probe, kind }) => container(run, ['stats', probe, kind], `the statistics of ${of(probe)} (${kind})`),
    // exact answers only: a `pool` is answered with the stored weights (the views read the header's `pool`)
    snapshot: async ({ run, probe, kind, step, layer, head, part }) => {
      if (part === 'summary_means')
        return container(
          run,
          ['summary_means', probe, kind, step, layer ?? null],
          `the block means of the summaries of ${of(probe)} at step ${step}`,
        );
      if (part === 'summary')
        return container(
          run,
          ['summary', probe, kind, step, layer, head],
          `the summary of L${layer}H${head} of ${of(probe)} at step ${step}`,
        );
      const full = await container(
        run,
        ['snapshot', probe, kind, step],
        `the snapshot of ${of(probe)} at step ${step}`,
      );
      if (layer === undefined || layer === null) return full;
      return head === undefined || head === null ? layerOf(full, layer) : headOf(full, layer, head);
    },
    relations: (run) => container(run, ['relations'], 'relations'),
    predictions: ({ run, probe, kind = 'self' }) =>
      json(run, ['predictions', probe, kind], `what the model predicted on ${of(probe)}`),
    similarity: ({ run, probe, kind, step }) =>
      container(run, ['similarity', probe, kind, step], `the head similarity of ${of(probe)} at step ${step}`),
    contributions: ({ run, probe, kind }) =>
      json(run, ['contributions', probe, kind], `the contributions of ${of(probe)} (${kind})`),
    neurons: ({ run, probe, kind, step, layer, head }) =>
      container(
        run,
        ['neurons', probe, kind, step, layer, head],
        `the neuron record of L${layer}H${head} of ${of(probe)} at step ${step}`,
      ),
  };
}
