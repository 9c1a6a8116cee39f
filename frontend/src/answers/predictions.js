// What the model predicted on a probe (the `predictions` route, docs/http-api.md), pure: which kind
// of a selection holds them, one position's row at a step, and the series over steps that the
// Predictions card draws (top-1 token per step grouped into segments, a token's probability, the
// label distribution of a classifier). An answer is {run, probe, kind, mode, steps, predictions:
// [{mode, positions, top: [[[token, p], ...] per position], targets, target_probs}] per step}.

/** The kind whose predictions a selected kind shows ('self' | 'decoder'), or null (an encoder). */
export function predictionKind(k) {
  if (!k) return null;
  if (k.query === 'decoder_tokens') return 'decoder';
  return k.kind === 'self' ? 'self' : null;
}

/** Whether hovering a token of `side` ('q' | 'k') of kind `k` can show its predictions. */
export function sideHasPredictions(k, side) {
  if (!predictionKind(k)) return false;
  return side === 'q' || k.key === k.query;
}

/** The prediction logged at exactly `step`, or null. */
export function stepEntry(answer, step) {
  const i = answer?.steps ? answer.steps.indexOf(step) : -1;
  return i < 0 ? null : answer.predictions[i];
}

/** {position, top, target, targetProb} of token `position` in `entry` (a label row for any), or null. */
export function rowAt(entry, position) {
  if (!entry) return null;
  const i = entry.mode === 'label' ? 0 : entry.positions.indexOf(position);
  if (i < 0 || !entry.top[i]) return null;
  return {
    position: entry.mode === 'label' ? null : position,
    top: entry.top[i],
    target: entry.targets?.[i] ?? null,
    targetProb: entry.target_probs?.[i] ?? null,
  };
}

/** 1-based rank of the row's target among its top-k, or null (no target, or below the top-k). */
export function targetRank(row) {
  if (!row || row.target === null) return null;
  const i = row.top.findIndex(([t]) => t === row.target);
  return i < 0 ? null : i + 1;
}

/** A probability as text: 3 decimals, or 2 significant digits below 0.001. */
export function formatProb(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return '\u2013';
  return p >= 0.001 || p === 0 ? p.toFixed(3) : p.toExponential(1);
}

/** What the target is called in a mode ('next-token': the true next token, 'masked': the masked word). */
export function targetName(mode) {
  return mode === 'masked' ? 'masked word' : 'true next';
}

/** Every position predicted at any step, ascending (none for labels). */
export function positionsOf(answer) {
  const all = new Set();
  for (const e of answer?.predictions || []) if (e.mode !== 'label') for (const p of e.positions) all.add(p);
  return [...all].sort((a, b) => a - b);
}

/** The target token of `position` (the latest step that knows it), or null. */
export function targetOf(answer, position) {
  const preds = answer?.predictions || [];
  for (let i = preds.length - 1; i >= 0; i--) {
    const row = rowAt(preds[i], position);
    if (row && row.target !== null) return row.target;
  }
  return null;
}

/** The top-1 token and its probability at each step of the answer (null where the step lacks the position). */
export function top1Series(answer, position) {
  const tokens = [];
  const probs = [];
  for (const e of answer.predictions) {
    const row = rowAt(e, position);
    const first = row && row.top[0];
    tokens.push(first ? first[0] : null);
    probs.push(first ? first[1] : null);
  }
  return { steps: answer.steps.slice(), tokens, probs };
}

/**
 * The probability of `token` at `position` at each step: from the step's top-k, else the target's
 * own probability when `token` is the target; null where unknown (below that step's top-k). With
 * `token` null: the target's probability.
 */
export function tokenProbs(answer, position, token = null) {
  return answer.predictions.map((e) => {
    const row = rowAt(e, position);
    if (!row) return null;
    const want = token === null ? row.target : token;
    if (want === null) return null;
    if (row.target === want && row.targetProb !== null) return row.targetProb;
    const hit = row.top.find(([t]) => t === want);
    return hit ? hit[1] : null;
  });
}

/** The tokens in the top-k at `position` at any step, by their highest probability (then by name). */
export function candidates(answer, position) {
  const best = new Map();
  for (const e of answer?.predictions || []) {
    const row = rowAt(e, position);
    for (const [t, p] of row ? row.top : []) best.set(t, Math.max(best.get(t) ?? -1, p));
  }
  return [...best.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([t, p]) => ({ token: t, max: p }));
}

/**
 * Runs of the same top-1 token over consecutive steps: [{token, from, to, first, last}] (`from`/`to`
 * index the steps; a step without a prediction ends a run and belongs to none).
 */
export function segments(steps, tokens) {
  const out = [];
  tokens.forEach((t, i) => {
    const prev = out[out.length - 1];
    if (t === null) return;
    if (prev && prev.token === t && prev.to === i - 1) {
      prev.to = i;
      prev.last = steps[i];
    } else out.push({ token: t, from: i, to: i, first: steps[i], last: steps[i] });
  });
  return out;
}

/** [lo, hi] in steps that segment `seg` covers on the axis: halfway to its neighbouring steps. */
export function segmentBounds(steps, seg) {
  const gap = (i, j) => (steps[j] - steps[i]) / 2;
  const n = steps.length;
  const left = seg.from > 0 ? gap(seg.from - 1, seg.from) : n > 1 ? gap(0, 1) : 0.5;
  const right = seg.to < n - 1 ? gap(seg.to, seg.to + 1) : n > 1 ? gap(n - 2, n - 1) : 0.5;
  return [seg.first - left, seg.last + right];
}

/** A classifier's labels (by probability at the last step) and each one's probability per step. */
export function labelSeries(answer) {
  const preds = answer?.predictions || [];
  const last = preds.length ? rowAt(preds[preds.length - 1], null) : null;
  const order = new Map((last ? last.top : []).map(([t], i) => [t, i]));
  for (const e of preds) for (const [t] of rowAt(e, null)?.top || []) if (!order.has(t)) order.set(t, order.size);
  const labels = [...order.keys()];
  const probs = labels.map((label) =>
    preds.map((e) => {
      const hit = (rowAt(e, null)?.top || []).find(([t]) => t === label);
      return hit ? hit[1] : null;
    }),
  );
  return { labels, probs };
}

/**
 * The position the card shows when none is picked: a masked LM's first mask; otherwise the position
 * whose target's probability rose most from its first to its last known value (the lowest on ties).
 */
export function defaultPosition(answer) {
  const positions = positionsOf(answer);
  if (!positions.length) return null;
  if (answer.mode !== 'next-token') return positions[0];
  let best = positions[0];
  let bestRise = -Infinity;
  for (const p of positions) {
    const known = tokenProbs(answer, p).filter((v) => v !== null);
    const rise = known.length ? known[known.length - 1] - known[0] : -Infinity;
    if (rise > bestRise) [best, bestRise] = [p, rise];
  }
  return best;
}

/**
 * The position and token the card shows for `pick` ({probe, position, token} or null, the user's
 * choice): the picked position when this probe has it, else the default; the picked token when it
 * was in the top-k there, else null (the target).
 */
export function resolvePick(answer, probe, pick) {
  const positions = positionsOf(answer);
  const mine = pick && pick.probe === probe;
  const position = mine && positions.includes(pick.position) ? pick.position : defaultPosition(answer);
  const token =
    mine &&
    pick.position === position &&
    pick.token != null &&
    candidates(answer, position).some((c) => c.token === pick.token)
      ? pick.token
      : null;
  return { position, token };
}
