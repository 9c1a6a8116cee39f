import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  neuronParts,
  NeuronDataError,
  products,
  dots,
  logits,
  softmax,
  contributions,
  neuronRow,
  maxAbs,
  defaultQuery,
  queryVector,
  keyVector,
  shortNumber,
} from '../src/answers/neuronMath.js';
import { encodeContainer, parseContainer } from '../src/data/container.js';

// one head, 2 queries, 3 keys, 2 dimensions, as ./neurons sends it (a causal mask on query 0)
const QUERY = [1, 0, 0.5, 2];
const KEY = [1, 1, 2, 0, 0, -1];
const ALLOWED = [1, 0, 0, 1, 1, 1];

function answer({ bias = null, valueNorm = null, scale = 0.5, softcap = 0 } = {}) {
  const parts = [
    ['query', [2, 2]],
    ['key', [3, 2]],
    ['allowed', [2, 3]],
  ];
  const values = [...QUERY, ...KEY, ...ALLOWED];
  if (bias) parts.push(['bias', [2, 3]]) && values.push(...bias);
  if (valueNorm) parts.push(['value_norm', [3]]) && values.push(...valueNorm);
  const header = {
    run: 'r',
    probe: 'p',
    kind: 'self',
    step: 4,
    layer: 1,
    head: 3,
    heads: [[1, 3]],
    scale,
    softcap,
    parts,
  };
  // through the binary container, as the browser receives it
  return parseContainer(
    encodeContainer({ ...header, shape: [values.length], dtype: 'float32' }, new Float32Array(values)),
  );
}

const close = (actual, expected, eps = 1e-6) =>
  assert.ok(
    actual.length === expected.length && expected.every((e, j) => Math.abs(actual[j] - e) <= eps),
    `${[...actual]} != ${expected}`,
  );

test('the parts of a ./neurons answer are views of its data, in the header order', () => {
  const n = neuronParts(answer({ valueNorm: [1, 2, 4] }));
  assert.equal(n.Q, 2);
  assert.equal(n.K, 3);
  assert.equal(n.D, 2);
  assert.deepEqual([...queryVector(n, 1)], [0.5, 2]);
  assert.deepEqual([...keyVector(n, 2)], [0, -1]);
  assert.deepEqual([...n.allowed], ALLOWED);
  assert.deepEqual([...n.valueNorm], [1, 2, 4]);
  assert.equal(n.bias, null);
  assert.equal(n.scale, 0.5);
  assert.equal(n.softcap, 0);
});

test('an answer whose parts do not fit its data is refused', () => {
  const good = answer();
  const h = good.header;
  const bad = [
    { ...h, parts: h.parts.slice(0, 2) }, // no allowed: data left over
    { ...h, parts: [...h.parts, ['bias', [2, 3]]] }, // more parts than data
    {
      ...h,
      parts: [
        ['query', [2, 2]],
        ['key', [2, 3]],
        ['allowed', [2, 3]],
      ],
    }, // key of another dimension
    {
      ...h,
      parts: [
        ['query', [2, 2]],
        ['keys', [3, 2]],
        ['allowed', [2, 3]],
      ],
    }, // unknown part
    { ...h, parts: undefined },
  ];
  for (const header of bad) assert.throws(() => neuronParts({ header, data: good.data }), NeuronDataError);
});

test('products, dots and logits of a query, by hand', () => {
  const n = neuronParts(answer());
  // q1 = (0.5, 2); k = (1, 1), (2, 0), (0, -1)
  close(products(n, 1), [0.5, 2, 1, 0, 0, -2]);
  close(dots(n, 1), [2.5, 1, -2]);
  close(logits(n, 1), [1.25, 0.5, -1]); // x scale 0.5
  // query 0 may attend to key 0 only (causal)
  assert.deepEqual([...logits(n, 0)], [0.5, -Infinity, -Infinity]);
});

test('the softmax over the allowed keys, by hand', () => {
  const n = neuronParts(answer());
  const e = [Math.exp(1.25), Math.exp(0.5), Math.exp(-1)];
  const sum = e[0] + e[1] + e[2];
  const row = neuronRow(n, 1);
  close(
    row.weights,
    e.map((x) => x / sum),
    1e-12,
  );
  close(row.weights, [0.63380764, 0.29938953, 0.06680283]);
  assert.deepEqual([...neuronRow(n, 0).weights], [1, 0, 0], 'masked keys weigh 0');
  assert.equal(row.contributions, null, 'no value norms, no contributions');
  assert.deepEqual([...softmax([-Infinity, -Infinity])], [0, 0], 'no allowed key: nothing');
  close(softmax([1000, 1000]), [0.5, 0.5], 1e-12); // no overflow
});

test('a position bias is added to the logits after the scale (T5)', () => {
  const n = neuronParts(answer({ bias: [0, 0, 0, 0.75, 0, 1] }));
  close(logits(n, 1), [2, 0.5, 0]);
  close(neuronRow(n, 1).weights, [0.73612472, 0.16425163, 0.09962365]);
});

test('a soft-cap c gives c * tanh(q.k * scale / c) before the bias (Gemma 2)', () => {
  const n = neuronParts(answer({ softcap: 1 }));
  close(logits(n, 1), [Math.tanh(1.25), Math.tanh(0.5), Math.tanh(-1)], 1e-12);
  close(neuronRow(n, 1).weights, [0.53203675, 0.3616027, 0.10636055]);
  const biased = neuronParts(answer({ softcap: 2, bias: [0, 0, 0, 1, 0, 0] }));
  close(logits(biased, 1), [2 * Math.tanh(1.25 / 2) + 1, 2 * Math.tanh(0.25), 2 * Math.tanh(-0.5)], 1e-12);
});

test('contributions: weight x value norm, normalized over keys', () => {
  const n = neuronParts(answer({ valueNorm: [1, 2, 4] }));
  const row = neuronRow(n, 1);
  close(row.contributions, [0.42259533, 0.39923979, 0.17816488]);
  close(contributions([0.5, 0.5, 0], [1, 3, 9]), [0.25, 0.75, 0]);
  assert.deepEqual([...contributions([0, 0], [1, 1])], [0, 0]);
});

test('scales are shown short', () => {
  assert.equal(shortNumber(0.3535533845424652), '0.3536');
  assert.equal(shortNumber(1), '1');
  assert.equal(shortNumber(0.125), '0.125');
  assert.equal(shortNumber(50), '50');
});

test('the colour scale and the default query token', () => {
  assert.equal(maxAbs([1, -3], [2]), 3);
  assert.equal(maxAbs([0, 0]), 1);
  assert.equal(defaultQuery(5, { causal: true }), 4, 'causal: the last token sees every key');
  assert.equal(defaultQuery(5, { special: [true, false, false, false, true] }), 1, 'first non-special');
  assert.equal(defaultQuery(2, { special: [true, true] }), 0);
  assert.equal(defaultQuery(3), 0);
  assert.equal(defaultQuery(0), null);
});
