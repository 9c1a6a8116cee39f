// Steps the server marks in a run (the `marks` of ./scalars, docs/http-api.md), labelled for the
// step-axis charts: e.g. the checkpoint that load_best_model_at_end put back at the end of training.

/** [{kind, step, metric?, value?}] -> [{step, label}] */
export function timelineMarks(scalars) {
  return (scalars?.marks || [])
    .filter((m) => Number.isFinite(m?.step))
    .map((m) => ({ step: m.step, label: markLabel(m) }));
}

function markLabel(m) {
  if (m.kind !== 'best_checkpoint') return String(m.kind);
  const value = Number.isFinite(m.value) ? ` ${Number(m.value).toPrecision(4)}` : '';
  return m.metric ? `best checkpoint (${m.metric}${value})` : 'best checkpoint';
}
