"""Large attention logs written fast, for the scale benchmark and the memory tests.

Encoding a 10 GB log with the writer takes hours of CPU (each weight is quantized, its statistics
computed and compressed). The records of a log are the same at every step but for the step itself,
so this module lets the real `AttentionSummaryWriter` write each probe's first snapshot (keyframes,
statistics, metadata) and then repeats those records at every further step, with the step written
into the event and the snapshot header (the format's own functions), plus a loss curve. The result is
a valid log of keyframes that every reader reads like any other:

    python -m tb_attention_plugin.devtools.bulk_logs LOGDIR --layers 32 --heads 32 --tokens 128 --gigabytes 10
"""

import argparse
import os
import tempfile
import time

from tensorboard.compat.proto import event_pb2, summary_pb2

from ..format.records import encode_snapshot_header, parse_snapshot_header
from ..format.metadata import SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX
from ..format.event_file import EventFileWriter, event_files, iter_events
from ..writer.summary_writer import AttentionSummaryWriter
from .synthetic import SyntheticHeads, loss_curve, plain_tokens


def _first_records(layers, heads, tokens, probes, seed):
    """{tag: Summary.Value} of each probe's snapshot and statistics at step 0, with metadata."""
    values = {}
    with tempfile.TemporaryDirectory() as tmp:
        with AttentionSummaryWriter(tmp) as writer:
            for p in range(probes):
                name = f"probe {p}"
                toks = plain_tokens(tokens)
                writer.add_probe(name, toks, special=[i in (0, len(toks) - 1) for i in range(len(toks))])
                maps = SyntheticHeads(layers, heads, toks, causal=False, last_step=1000, seed=seed + p).at(500)
                writer.add_attention(0, name, maps, kind="self", causal=False)
        for path in event_files(tmp):
            for event in iter_events(path):
                for value in event.summary.value:
                    if value.tag.startswith((SNAPSHOT_TAG_PREFIX, STATS_TAG_PREFIX)):
                        values[value.tag] = value
    return values


def _at_step(value, step, with_metadata):
    copy = summary_pb2.Summary.Value()
    copy.CopyFrom(value)
    if not with_metadata:
        copy.ClearField("metadata")
    if value.tag.startswith(SNAPSHOT_TAG_PREFIX):
        header = parse_snapshot_header(copy.tensor.string_val[0])
        copy.tensor.string_val[0] = encode_snapshot_header(
            step, header["layers"], header["heads"], header["query_len"], header["key_len"]
        )
    return copy


def write_bulk_run(run_dir, *, layers, heads, tokens, snapshots, probes=1, every=10, seed=0):
    """A run of `snapshots` snapshots (steps 0, every, ...) of `probes` probes. -> bytes written."""
    values = _first_records(layers, heads, tokens, probes, seed)
    writer = EventFileWriter(str(run_dir), ".attention")
    steps = [i * every for i in range(snapshots)]
    try:
        for i, step in enumerate(steps):
            wall_time = time.time()
            for tag in sorted(values):
                summary = summary_pb2.Summary(value=[_at_step(values[tag], step, with_metadata=i == 0)])
                writer.write(event_pb2.Event(step=step, wall_time=wall_time, summary=summary))
            loss = loss_curve([step], seed)[0]
            scalar = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="train/loss", simple_value=loss)])
            writer.write(event_pb2.Event(step=step, wall_time=wall_time, summary=scalar))
    finally:
        writer.close()
    return os.path.getsize(writer.path)


def snapshot_bytes(layers, heads, tokens, probes=1, seed=0):
    """Bytes one step of such a run takes (its records at step 0)."""
    return sum(v.ByteSize() for v in _first_records(layers, heads, tokens, probes, seed).values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logdir")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--probes", type=int, default=1)
    ap.add_argument("--gigabytes", type=float, default=1.0, help="size of the run's event file")
    args = ap.parse_args(argv)
    per_step = snapshot_bytes(args.layers, args.heads, args.tokens, args.probes)
    snapshots = max(1, int(args.gigabytes * 1e9 / per_step))
    size = write_bulk_run(
        os.path.join(args.logdir, "bulk"),
        layers=args.layers,
        heads=args.heads,
        tokens=args.tokens,
        snapshots=snapshots,
        probes=args.probes,
    )
    print(f"{snapshots} snapshots, {size / 1e9:.2f} GB in {args.logdir}/bulk")


if __name__ == "__main__":
    main()
