"""The `scalars` route's data: a run's loss and metric curves, and the steps the timeline marks."""

import math

from tensorboard.data import provider

from ..format.metadata import BEST_CHECKPOINT_TAG_PREFIX
from .errors import DOWNSAMPLE_ALL, PROVIDER_DECODE_ERRORS, Unavailable


def read_scalars(data_provider, ctx, eid, run):
    """({tag: {"steps": [...], "values": [...]}} of every scalar series of a listed run (latest wins),
    [marked steps]): series that mark a step (metadata.BEST_CHECKPOINT_TAG_PREFIX) are marks, not
    curves; the point written last wins."""
    # Scalars written as `simple_value` are migrated to the scalars plugin by both loaders.
    rtf = provider.RunTagFilter(runs=[run])
    listing = data_provider.list_scalars(ctx, experiment_id=eid, plugin_name="scalars", run_tag_filter=rtf)
    tags, marks = {}, []
    if not listing.get(run):
        return tags, marks
    try:
        data = data_provider.read_scalars(
            ctx, experiment_id=eid, plugin_name="scalars", downsample=DOWNSAMPLE_ALL, run_tag_filter=rtf
        )
    except PROVIDER_DECODE_ERRORS as e:
        raise Unavailable(f"TensorBoard cannot read the scalars of run {run!r}: {e}") from None
    for tag, points in sorted(data.get(run, {}).items()):
        if tag.startswith(BEST_CHECKPOINT_TAG_PREFIX):
            last = max(points, key=lambda p: p.wall_time, default=None)
            if last is not None and math.isfinite(last.value):
                marks.append(
                    {
                        "kind": "best_checkpoint",
                        "step": last.step,
                        "value": float(last.value),
                        "metric": tag[len(BEST_CHECKPOINT_TAG_PREFIX) :],
                    }
                )
            continue
        by_step = {p.step: float(p.value) for p in points}
        steps = sorted(by_step)
        tags[tag] = {"steps": steps, "values": [by_step[s] for s in steps]}
    return tags, marks
