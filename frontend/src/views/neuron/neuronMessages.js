// What the neuron view says, in place, when the selection has no neuron data: the run has none
// (how to turn it on), this probe/kind has none (those that have), the step has none (buttons to
// the nearest steps that have one), the head was not captured (buttons to the captured heads).

import { el } from '../../paint/dom.js';
import { HOW_TO, capturedHeadsOf } from '../../answers/neuronStatus.js';

function button(text, testid, onclick, attrs = {}) {
  return el('button', { class: 'tba-nv-go', 'data-testid': testid, onclick, ...attrs }, text);
}

/** Buttons selecting each of `heads` ([[layer, head]]), the selected one pressed, after `label`. */
export function headButtons(heads, a, label) {
  const out = [el('span', { class: 'tba-sub' }, label)];
  for (const [layer, head] of heads || []) {
    const on = layer === a.layer && head === a.head;
    out.push(
      button(`L${layer}H${head}`, 'nv-head', () => a.selectHead(layer, head), {
        'aria-pressed': String(on),
        'data-layer': layer,
        'data-head': head,
      }),
    );
  }
  return out;
}

function runNone() {
  return el(
    'div',
    { 'data-testid': 'nv-howto' },
    el('b', {}, 'This run has no neuron records.'),
    el('div', {}, 'The neuron view needs the query and key vectors of the heads, logged with the snapshots:'),
    el(
      'pre',
      {},
      el(
        'code',
        {},
        'AttentionCallback(probes, neurons=True)\n' +
          'AttentionCallback(probes, neurons={"heads": [(layer, head)], "every": k})',
      ),
    ),
    el('div', { class: 'tba-hint' }, HOW_TO),
  );
}

function kindNone(s, a) {
  return el(
    'div',
    {},
    el('b', {}, `Probe \u201c${a.probe}\u201d (${a.kind}) has no neuron records.`),
    el('div', {}, 'This run logged them for: '),
    ...s.others.map(({ probe, kind }) =>
      button(`\u201c${probe}\u201d (${kind})`, 'nv-kind', () => a.selectKind(probe, kind)),
    ),
  );
}

function stepNone(s, a) {
  const near = [s.before, s.after].filter((x) => x !== null);
  return el(
    'div',
    {},
    el('b', {}, `No neuron record at step ${a.step}.`),
    el('div', {}, near.length > 1 ? 'Nearest steps with one: ' : 'The nearest step with one: '),
    ...near.map((step) => button(`step ${step}`, 'nv-goto-step', () => a.setStep(step), { 'data-step': step })),
  );
}

function notCaptured(s, a) {
  const heads = s.heads || capturedHeadsOf(s.error.message);
  return el(
    'div',
    {},
    el('b', {}, `L${a.layer} H${a.head} was not captured for the neuron view at step ${a.step}.`),
    el('div', {}, ...headButtons(heads, a, 'Captured heads:')),
    el('div', { class: 'tba-hint' }, 'Name the heads to capture with neurons={"heads": [(layer, head), ...]}.'),
  );
}

/** The message node of an availability (neuronStatus.js) or a not-captured answer; null for others. */
export function neuronMessage(status, a) {
  if (status.state === 'run-none') return runNone();
  if (status.state === 'kind-none') return kindNone(status, a);
  if (status.state === 'step-none') return stepNone(status, a);
  if (status.state === 'not-captured') return notCaptured(status, a);
  return null;
}
