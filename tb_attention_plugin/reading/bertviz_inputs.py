"""A read-back probe as BertViz's `head_view` and `model_view` take it: one torch tensor [1, heads, query,
key] per layer (BertViz stacks them with torch and refuses numpy), the tokens, and where the second
segment starts (`sentence_b_start`), or the encoder, decoder and cross attention of an encoder-decoder
probe with both sides' tokens.

    from bertviz import head_view
    head_view(**read_run("logs/run").probe("cat").bertviz(step=400))

torch is imported here, when this is called (BertViz needs it anyway): the TensorBoard side never is.
"""

import numpy as np

# our kinds -> BertViz's arguments for an encoder-decoder model
_ENCODER_DECODER = {"encoder": "encoder_attention", "decoder": "decoder_attention", "cross": "cross_attention"}


def bertviz_inputs(probe, step):
    """{argument: value} for head_view / model_view of `probe` (a reading.probe_log.ProbeLog) at a logged
    step. Raises KeyError for a step not logged, ValueError when a storage budget left some heads
    without their map at that step (BertViz shows every head)."""
    kinds = [k for k in probe.kinds if step in probe.steps_of(k)]
    if not kinds:
        raise KeyError(f"probe {probe.name!r} has no attention at step {step}; logged steps: {probe.steps}")
    if probe.decoder_tokens is None:
        inputs = {"attention": _layers(probe, step, "self"), "tokens": list(probe.tokens)}
        start = second_segment_start(probe.segments)
        if start is not None:
            inputs["sentence_b_start"] = start
        return inputs
    inputs = {"encoder_tokens": list(probe.tokens), "decoder_tokens": list(probe.decoder_tokens)}
    for kind in kinds:
        inputs[_ENCODER_DECODER[kind]] = _layers(probe, step, kind)
    return inputs


def second_segment_start(segments):
    """The index of the first token of the second segment of a sentence pair ([0, ..., 0, 1, ..., 1]),
    else None."""
    segments = np.asarray(segments)
    starts = np.flatnonzero(segments != 0)
    if not len(starts) or starts[0] == 0 or (segments[starts[0] :] == 0).any():
        return None
    return int(starts[0])


def _layers(probe, step, kind):
    import torch

    kept = {layer: heads for layer, heads in probe.stored_heads(step, kind).items() if heads is not None}
    if kept:
        held = "; ".join(f"layer {layer}: heads {list(heads)}" for layer, heads in sorted(kept.items())[:4])
        raise ValueError(
            f"probe {probe.name!r} ({kind}) at step {step} holds the maps of some heads only ({held}"
            f"{'; ...' if len(kept) > 4 else ''}): a storage budget left the others out, and BertViz shows every "
            f"head. Read the kept heads with attention(step, layer=, head=), or log the run with an "
            f"attention_budget= that fits every head's map (the log says the size before step 1)"
        )
    return tuple(torch.from_numpy(np.ascontiguousarray(layer))[None] for layer in probe.attention(step, kind))
