"""Fuzz: random blob payloads, plugin metadata and query strings never make a route answer 500."""

import json
import os
import struct
import tempfile
import time
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_attention_plugin.format.metadata import STAT_NAMES
from tb_attention_plugin.format.event_file import EventFileWriter

from plugin_fixtures import PREFIX, App

VALID_META = {
    "version": 1,
    "probe": "p",
    "probe_index": 0,
    "kind": "self",
    "query": "tokens",
    "key": "tokens",
    "causal": False,
    "layers": 2,
    "heads": 2,
    "tokens": ["a", "b", "c"],
    "segments": [0, 0, 0],
    "special": [True, False, True],
    "decoder_tokens": None,
    "decoder_special": None,
    "stats": list(STAT_NAMES),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
metadata = st.one_of(
    st.binary(max_size=64),
    st.fixed_dictionaries({}, optional={k: json_values for k in VALID_META}).map(
        lambda changes: json.dumps({**VALID_META, **changes}).encode()
    ),
    st.just(json.dumps(VALID_META).encode()),
)
layer_header = st.builds(
    lambda enc, ref, crc, h, q, k: struct.pack("<2sBBqIHHH", b"TA", 1, enc, ref, crc, h, q, k),
    st.integers(0, 2),
    st.integers(-3, 5),
    st.integers(0, 2**32 - 1),
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 4),
)
blob = st.one_of(st.binary(max_size=48), st.builds(lambda h, tail: h + tail, layer_header, st.binary(max_size=48)))
record = st.tuples(st.integers(-2, 6), metadata, st.lists(blob, min_size=0, max_size=4), st.binary(max_size=96))
query_text = st.text(st.characters(codec="utf-8"), max_size=12)
query = st.dictionaries(
    st.sampled_from(["run", "probe", "kind", "step", "layer", "x"]),
    st.one_of(query_text, st.integers(-5, 8).map(str), st.sampled_from(["r", "p", "self"])),
    max_size=6,
)


def write_records(run_dir, records):
    writer = EventFileWriter(run_dir)
    for step, content, blobs, stats_bytes in records:
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="attention", content=content)
        )
        seq = summary_pb2.Summary.Value(
            tag="attention/p/self",
            metadata=meta,
            tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_STRING,
                string_val=blobs,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(blobs))]
                ),
            ),
        )
        seq.metadata.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
        stats_bytes = stats_bytes[: len(stats_bytes) // 4 * 4]
        stats = summary_pb2.Summary.Value(
            tag="attention_stats/p/self",
            metadata=meta,
            tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_FLOAT,
                tensor_content=stats_bytes,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(stats_bytes) // 4)]
                ),
            ),
        )
        stats.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
        writer.write(event_pb2.Event(step=step, wall_time=time.time(), summary=summary_pb2.Summary(value=[seq, stats])))
    writer.close()


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(record, min_size=1, max_size=4),
    queries=st.lists(query, min_size=1, max_size=3),
    raw=st.text(max_size=30),
)
def test_fuzzed_records_and_queries_never_give_500(records, queries, raw):
    with tempfile.TemporaryDirectory() as logdir:
        write_records(os.path.join(logdir, "r"), records)
        app = App(logdir)
        answers = [app.client.get(PREFIX + "index")]
        for step in {s for s, *_ in records}:
            answers.append(app.get("snapshot", run="r", probe="p", kind="self", step=step))
            answers.append(app.get("snapshot", run="r", probe="p", kind="self", step=step, layer=1))
        answers.append(app.get("stats", run="r", probe="p", kind="self"))
        for route in ("snapshot", "stats", "scalars"):
            for params in queries:
                answers.append(app.client.get(PREFIX + route + "?" + urllib.parse.urlencode(params)))
            answers.append(app.client.get(PREFIX + route + "?" + urllib.parse.quote(raw, safe="=&;%")))
        answers.append(app.client.get(PREFIX + urllib.parse.quote(raw)))
        for r in answers:
            assert r.status_code in (200, 400, 404), (r.status_code, r.get_data()[:200])
            if r.status_code != 200:
                if r.headers["Content-Type"].startswith("application/json"):  # ours; TensorBoard's router
                    assert "error" in json.loads(r.get_data())  # answers text/plain
