"""Snapshots of a 32 x 32-head model (CPU): how long the training thread is blocked per snapshot
against the probe forward pass, and what encoding costs per stored weight on the writer's thread.

A Llama-style model with 32 layers x 32 heads (narrow, so that it runs on a CPU) and 8 probes of 128
tokens stores 134 M weights per snapshot, as a 7B model would. It runs through AttentionRecorder,
the same ProbeRunner and background writer as the Trainer callback; all ratios are measured in one run.

    python bench/bench_scale_callback.py [--snapshots 4] [--out bench/results/scale-callback.json]
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import torch


def word_tokenizer(n_words):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1} | {f"w{i}": i + 2 for i in range(n_words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--snapshots", type=int, default=4)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds between snapshots (training)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "scale-callback.json"))
    a = ap.parse_args()

    import transformers

    from tb_attention_plugin import AttentionRecorder
    from tb_attention_plugin.writer.snapshot_stream import SnapshotStream

    torch.manual_seed(0)
    tok = word_tokenizer(1000)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=8 * a.heads,
        intermediate_size=16 * a.heads,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.heads,
        max_position_embeddings=2 * a.tokens,
    )
    model = transformers.LlamaForCausalLM(config)
    probes = [" ".join(f"w{(p * 37 + i * 11) % 1000}" for i in range(a.tokens)) for p in range(a.probes)]

    forward, encode = [], []
    encode_layer = SnapshotStream._encode
    started = []
    # The probe forward is the model's own forward call; everything else the snapshot call spends
    # (output conversion, checks, handing over to the writer) counts as blocked.
    model.register_forward_pre_hook(lambda module, args: started.append(time.perf_counter()))
    model.register_forward_hook(lambda module, args, out: forward.append(time.perf_counter() - started.pop()))

    def timed_encode(stream, index, layer):
        t = time.perf_counter()
        out = encode_layer(stream, index, layer)
        encode.append((time.perf_counter() - t, layer.size))
        return out

    SnapshotStream._encode = timed_encode
    blocked = []
    with tempfile.TemporaryDirectory() as d:
        recorder = AttentionRecorder(model, tok, probes, d, max_tokens=a.tokens, induction_probe=False)
        forward.clear()
        for step in range(a.snapshots):
            with torch.no_grad():  # the weights move a little, as training would
                for p in model.parameters():
                    p.mul_(1.001)
            t = time.perf_counter()
            recorder.snapshot(step)
            blocked.append(time.perf_counter() - t - forward[-1])
            time.sleep(a.pause)  # training between snapshots, when the writer thread encodes
        t = time.perf_counter()
        recorder.close()
        drain = time.perf_counter() - t
    weights = sum(n for _, n in encode) // len(blocked)
    result = {
        "model": f"{a.layers} layers x {a.heads} heads, {a.probes} probes x {a.tokens} tokens",
        "weights_per_snapshot": weights,
        "probe_forward_s_median": statistics.median(forward),
        "blocked_beyond_forward_s_median": statistics.median(blocked),
        "blocked_ratio": (statistics.median(forward) + statistics.median(blocked)) / statistics.median(forward),
        "encode_ns_per_weight": 1e9 * sum(s for s, _ in encode) / sum(n for _, n in encode),
        "drain_at_close_s": drain,
    }
    print(json.dumps(result, indent=1))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
