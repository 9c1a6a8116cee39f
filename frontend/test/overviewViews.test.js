import { test } from 'node:test';
import assert from 'node:assert/strict';
import { similarityPixels, similarityCell } from '../src/views/overview/similarityView.js';
import { tableColumns, addRelationScores } from '../src/views/overview/headTable.js';
import { sequentialLUT } from '../src/paint/colorScale.js';

test('similarity pixels: each cell a block coloured by 1 - distance, dark = alike', () => {
  const lut = sequentialLUT('linear');
  // 2 layers x 2 heads: layer 1 = [[0, 0.25], [1, NaN]]
  const data = new Float32Array([0, 0.5, 0.5, 0, 0, 0.25, 1, NaN]);
  const px = similarityPixels(data, 1, 2, 3, lut); // 6 x 6 pixels
  assert.equal(px.length, 36);
  const at = (x, y) => px[y * 6 + x];
  assert.equal(at(0, 0), lut[255]); // distance 0: the darkest
  assert.equal(at(2, 2), lut[255]); // the whole block
  assert.equal(at(3, 0), lut[Math.round(255 * 0.75)]);
  assert.equal(at(5, 2), lut[Math.round(255 * 0.75)]);
  assert.equal(at(0, 3), lut[0]); // distance 1: white
  assert.equal(at(4, 4), 0xffe0e0e0); // undefined: grey
  assert.equal(similarityCell(12, 96), 8);
  assert.equal(similarityCell(64, 96), 3);
  assert.equal(similarityCell(2, 320), 24);
});

test('the table: the statistics the probe has, then one column per relation, with its mass', () => {
  const stats = { header: { stats: ['entropy', 'first', 'drift'] } };
  const relations = {
    header: { steps: [0, 10], layers: 1, heads: 2, relations: [{ relation: 'coreference', steps: [0, 10] }] },
    data: new Float32Array([0.1, 0.2, 0.3, 0.4, 1, 0, 0, 1]), // mass [steps][heads], then accuracy
  };
  assert.deepEqual(
    tableColumns(stats, relations).map((c) => c.key),
    ['drift', 'entropy', 'first', 'rel:coreference'],
  );
  const rows = addRelationScores(
    [
      { layer: 0, head: 0 },
      { layer: 0, head: 1 },
    ],
    relations,
    15,
  );
  assert.deepEqual(
    rows.map((r) => +r['rel:coreference'].toFixed(2)),
    [0.3, 0.4],
  );
  assert.deepEqual(
    tableColumns(stats, null).map((c) => c.key),
    ['drift', 'entropy', 'first'],
  );
});
