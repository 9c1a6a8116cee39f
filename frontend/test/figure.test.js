import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xmlText, figureSvg, besideEachOther, fileName } from '../src/paint/figure.js';
import { headFigure, levelOf, LEVELS } from '../src/views/headView/headFigure.js';
import { HeadMatrix } from '../src/answers/headMatrix.js';
import { chartFigure, niceTicks } from '../src/views/charts/chartFigure.js';
import { labelsInView, gridGeometry } from '../src/paint/gridGeometry.js';

test('token text is escaped and characters XML cannot hold are replaced', () => {
  assert.equal(xmlText('<img src=x onerror="a()"> & co'), '&lt;img src=x onerror=&quot;a()&quot;&gt; &amp; co');
  assert.equal(xmlText('a\u0000b\u001bc\ud800d\tz'), 'a\ufffdb\ufffdc\ufffdd\tz');
  assert.equal(xmlText('caf\u00e9 \u{1f600}'), 'caf\u00e9 \u{1f600}');
});

test('an SVG holds text as text, lines as paths and raster items as PNG images', () => {
  const canvas = { toDataURL: () => 'data:image/png;base64,AAAA' };
  const fig = {
    width: 100,
    height: 50,
    items: [
      { t: 'text', x: 1, y: 2, text: '</text><script>x</script>', anchor: 'end' },
      { t: 'path', segs: [[0, 0, 10, 10.123]], stroke: '#f00', width: 2, opacity: 0.5 },
      { t: 'poly', points: [[0, 0], null, [1, 1], [2, 2]], stroke: '#00f', width: 1, dash: [5, 4] },
      { t: 'image', x: 0, y: 0, w: 10, h: 10, canvas },
    ],
  };
  const svg = figureSvg(besideEachOther([fig, fig], 10));
  assert.match(
    svg,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="210"/,
  );
  assert.ok(svg.includes('&lt;/text&gt;&lt;script&gt;x&lt;/script&gt;</text>'));
  assert.ok(!svg.includes('<script'));
  assert.ok(svg.includes('d="M0 0L10 10.12"') && svg.includes('stroke-opacity="0.5"'));
  assert.ok(svg.includes('d="M0 0M1 1L2 2"') && svg.includes('stroke-dasharray="5 4"'));
  assert.ok(svg.includes('href="data:image/png;base64,AAAA"'));
  assert.ok(svg.includes('<g transform="translate(110 0)">'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test('file names keep only safe characters', () => {
  assert.equal(
    fileName(['attention-grid', 'runs/a b', 'p</x>', 'self', 'step100'], 'png'),
    'attention-grid-runs_a_b-p_x_-self-step100.png',
  );
  assert.equal(fileName([null, '...'], 'svg'), 'attention.svg');
});

test('the head view figure draws every line, one path per head and level, tokens as text', () => {
  const m = new HeadMatrix(Uint8Array.from([230, 25, 100, 100]), 0, 2, [0, 1], [0, 1]); // 0.9 0.1 / 0.5 0.5
  const fig = headFigure({
    title: 't',
    heads: ['query', 'key'],
    left: [
      { text: '[CLS]', special: true },
      { text: 'cat', seg1: true },
    ],
    right: [{ text: '[CLS]' }, { text: 'cat' }],
    weights: [{ head: 3, m }],
    density: { rowH: 20, font: 13, perRow: Infinity },
    colW: 80,
    lineW: 100,
  });
  const paths = fig.items.filter((i) => i.t === 'path');
  assert.equal(
    paths.reduce((n, p) => n + p.segs.length, 0),
    4,
  );
  assert.equal(new Set(paths.map((p) => p.opacity)).size, paths.length);
  const texts = fig.items.filter((i) => i.t === 'text').map((i) => i.text);
  assert.deepEqual(texts.slice(-4), ['[CLS]', 'cat', '[CLS]', 'cat']);
  assert.equal(fig.width, 260);
  assert.equal(levelOf(1), LEVELS - 1);
});

test('the chart figure has ticks, a gap where a statistic is undefined, the cursor and a legend', () => {
  assert.deepEqual(niceTicks(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(niceTicks(0, 4000, 6), [0, 1000, 2000, 3000, 4000]);
  const fig = chartFigure({
    title: 'evo',
    xs: [0, 100, 200],
    curves: [{ label: 'entropy', color: '#000', ys: [0.5, null, 0.2] }],
    range: [0, 200],
    yMax: 1,
    step: 100,
    marks: [0, 200],
    width: 400,
  });
  const poly = fig.items.find((i) => i.t === 'poly');
  assert.equal(poly.points[1], null);
  assert.ok(fig.items.some((i) => i.t === 'text' && i.text === 'entropy'));
  assert.ok(fig.items.some((i) => i.t === 'path' && i.stroke === '#d93025'));
});

test('labels in view: every n-th and the active one, centred in the viewport', () => {
  const g = gridGeometry(10, 10, 20); // pitch 22
  const labels = labelsInView(g, 22, 66, 10, 2, 3);
  assert.deepEqual(
    labels.map((l) => [l.i, l.c, l.active]),
    [
      [2, 32, false],
      [3, 54, true],
    ],
  );
});
