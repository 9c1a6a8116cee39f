// The neuron view's arithmetic, pure (docs/http-api.md, "neurons"): one head's query and key
// vectors as the ./neurons route sends them, and from them, for one query token i, the elementwise
// products q_i * k_j, the dot products q_i . k_j, the logits (x scale, soft-capped, + bias) and the
// softmax over the allowed keys: the same arithmetic as `neuron_math.softmax_of` (Python), in
// float64, so the browser shows the head's attention from what it received, never the stored map.

import { ContainerError } from '../data/container.js';

/** An answer that does not hold what its header says (shown as undecodable, shown.js). */
export class NeuronDataError extends ContainerError {}

const PARTS = ['query', 'key', 'allowed', 'bias', 'value_norm'];

/**
 * A ./neurons answer {header, data} -> {header, Q, K, D, query, key, allowed, bias, valueNorm, scale,
 * softcap}: each part a view of `data` (no copy); bias and valueNorm null when the answer has none.
 */
export function neuronParts({ header, data }) {
  const parts = Array.isArray(header?.parts) ? header.parts : null;
  if (!parts) throw new NeuronDataError('the neuron answer has no parts');
  const out = { header, bias: null, valueNorm: null };
  let offset = 0;
  for (const [name, shape] of parts) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!PARTS.includes(name) || offset + size > data.length) {
      throw new NeuronDataError(`the neuron answer's part ${JSON.stringify(name)} does not fit its data`);
    }
    out[name === 'value_norm' ? 'valueNorm' : name] = data.subarray(offset, offset + size);
    out[`${name}Shape`] = shape;
    offset += size;
  }
  if (offset !== data.length || !out.query || !out.key || !out.allowed) {
    throw new NeuronDataError('the neuron answer lacks query, key or allowed, or holds more data than its parts');
  }
  const [Q, D] = out.queryShape;
  const K = out.keyShape[0];
  if (out.keyShape[1] !== D || out.allowed.length !== Q * K) {
    throw new NeuronDataError('the neuron answer has query and key vectors of different sizes');
  }
  if ((out.bias && out.bias.length !== Q * K) || (out.valueNorm && out.valueNorm.length !== K)) {
    throw new NeuronDataError('the neuron answer has a bias or value norms of the wrong size');
  }
  return { ...out, Q, K, D, scale: Number(header.scale), softcap: Number(header.softcap) || 0 };
}

/** Query vector i (a view). */
export function queryVector(n, i) {
  return n.query.subarray(i * n.D, (i + 1) * n.D);
}

/** Key vector j (a view). */
export function keyVector(n, j) {
  return n.key.subarray(j * n.D, (j + 1) * n.D);
}

/** q_i * k_j elementwise, Float64Array [K * D] (row j: key j). */
export function products(n, i) {
  const q = queryVector(n, i);
  const out = new Float64Array(n.K * n.D);
  for (let j = 0; j < n.K; j++) for (let d = 0; d < n.D; d++) out[j * n.D + d] = q[d] * n.key[j * n.D + d];
  return out;
}

/** q_i . k_j for every key j, Float64Array [K]. */
export function dots(n, i) {
  const q = queryVector(n, i);
  const out = new Float64Array(n.K);
  for (let j = 0; j < n.K; j++) {
    let s = 0;
    for (let d = 0; d < n.D; d++) s += q[d] * n.key[j * n.D + d];
    out[j] = s;
  }
  return out;
}

/** Whether query i may attend to key j. */
export function allowed(n, i, j) {
  return n.allowed[i * n.K + j] !== 0;
}

/**
 * The logits of query i, Float64Array [K]: q.k * scale, soft-capped (c * tanh(x / c)) when c > 0,
 * plus the bias where the model adds one; -Infinity for keys it may not attend to.
 */
export function logits(n, i, dot = dots(n, i)) {
  const out = new Float64Array(n.K);
  const c = n.softcap;
  for (let j = 0; j < n.K; j++) {
    let x = dot[j] * n.scale;
    if (c > 0) x = c * Math.tanh(x / c);
    if (n.bias) x += n.bias[i * n.K + j];
    out[j] = allowed(n, i, j) ? x : -Infinity;
  }
  return out;
}

/** Softmax of logits, Float64Array: 0 where -Infinity; all 0 when no key is allowed. */
export function softmax(values) {
  let top = -Infinity;
  for (const v of values) if (v > top) top = v;
  const out = new Float64Array(values.length);
  if (top === -Infinity) return out;
  let sum = 0;
  for (let j = 0; j < values.length; j++) sum += out[j] = Math.exp(values[j] - top);
  for (let j = 0; j < values.length; j++) out[j] /= sum;
  return out;
}

/**
 * What key j passes on to query i, normalized over keys: weight_ij * value_norm_j / sum_j (Kobayashi
 * et al. 2020), Float64Array [K]; null without value norms.
 */
export function contributions(weights, valueNorm) {
  if (!valueNorm) return null;
  const out = new Float64Array(weights.length);
  let sum = 0;
  for (let j = 0; j < weights.length; j++) sum += out[j] = weights[j] * valueNorm[j];
  if (sum > 0) for (let j = 0; j < weights.length; j++) out[j] /= sum;
  return out;
}

/** Everything the card shows for query i: products, dots, logits, weights, contributions. */
export function neuronRow(n, i) {
  const dot = dots(n, i);
  const logit = logits(n, i, dot);
  const weights = softmax(logit);
  return {
    i,
    products: products(n, i),
    dots: dot,
    logits: logit,
    weights,
    contributions: contributions(weights, n.valueNorm),
  };
}

/** A number in at most 4 significant digits, without trailing zeros (0.3536, 1, 0.125). */
export function shortNumber(v) {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}

/** The largest |value| of the arrays (1 when all are 0), for the colour scale. */
export function maxAbs(...arrays) {
  let m = 0;
  for (const a of arrays) for (const v of a) if (Math.abs(v) > m) m = Math.abs(v);
  return m > 0 ? m : 1;
}

/**
 * The query token shown by default: the last one when the kind is causal (it sees every key), else
 * the first that is not special ([CLS], <s>...), else the first.
 */
export function defaultQuery(count, { causal = false, special = null } = {}) {
  if (count <= 0) return null;
  if (causal) return count - 1;
  for (let i = 0; i < count; i++) if (!special || !special[i]) return i;
  return 0;
}
