// Weight against contribution over training (./contributions, docs/http-api.md), pure: for one
// captured head, the first-token and [SEP] mass by attention weight and by Kobayashi et al.'s
// norm-based contribution at each step with a neuron record. An answer is {steps, heads: [[l, h]],
// first: [[[weight, contribution] per head] per step], sep: ...} (contribution null without norms).

/** {steps, firstWeight, firstContribution, sepWeight, sepContribution, hasContribution} of head
 * (layer, head) in the answer, or null when that head was not captured. */
export function contributionSeries(answer, layer, head) {
  const i = (answer?.heads || []).findIndex(([l, h]) => l === layer && h === head);
  if (i < 0) return null;
  const pick = (rows, j) => rows.map((perHead) => (perHead[i] ? perHead[i][j] : null));
  const out = {
    steps: answer.steps.slice(),
    firstWeight: pick(answer.first, 0),
    firstContribution: pick(answer.first, 1),
    sepWeight: pick(answer.sep, 0),
    sepContribution: pick(answer.sep, 1),
  };
  out.hasContribution = out.firstContribution.some((v) => v !== null);
  return out;
}

/** The step at which weight and contribution disagree most on [CLS]/[SEP] mass: {step, what, weight,
 * contribution}, or null (no contribution). */
export function largestGap(series) {
  if (!series?.hasContribution) return null;
  let best = null;
  for (const [what, w, c] of [
    ['first token', series.firstWeight, series.firstContribution],
    ['[SEP]', series.sepWeight, series.sepContribution],
  ]) {
    series.steps.forEach((step, k) => {
      if (w[k] === null || c[k] === null) return;
      const gap = Math.abs(w[k] - c[k]);
      if (!best || gap > best.gap) best = { step, what, weight: w[k], contribution: c[k], gap };
    });
  }
  return best;
}
