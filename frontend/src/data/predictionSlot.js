// Loading a selection's predictions (./predictions, one answer for every step) into a view's
// SnapshotSlot (shown.js), shared by the head view's predictions box and the Predictions card: the
// cached answer settles at once, otherwise one request whose answer only counts for its target.

/**
 * `t` is {sel, w, steps} (null: nothing to show); `render()` after each change; `drawn(cached)`
 * says the cached answer is already on screen (nothing to do).
 */
export async function loadPredictionsInto(slot, data, t, render, drawn = () => false) {
  if (!t) {
    slot.reset();
    render();
    return;
  }
  const cached = data.cachedPredictions(t.sel, t.steps);
  if (cached) {
    if (drawn(cached)) return;
    slot.settle(t.w, cached);
    render();
    return;
  }
  const done = slot.request(t.w, () => data.predictions(t.sel, t.steps));
  render();
  if (await done) render();
}
