"""A layer on an accelerator is measured where it lives (format/arrays.py): the statistics, relations,
the storage budget's sketch and the quantized maps are computed in the tensor's own namespace, and
only what is stored crosses to the host. This machine has no GPU: the same route is taken here by CPU
tensors (the writer is told that a torch tensor lives on an accelerator), and its log must equal the
numpy route's: the same bytes for every map and summary, the same heads chosen, the same statistics
and relations within float rounding."""

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tb_attention_plugin import AttentionSummaryWriter, read_run  # noqa: E402
from tb_attention_plugin.devtools.synthetic import DriftingMaps, repeated_tokens  # noqa: E402
from tb_attention_plugin.format import arrays  # noqa: E402
from tb_attention_plugin.writer import snapshot_stream  # noqa: E402
from tb_attention_plugin.writer.head_choice import HeadChoice  # noqa: E402

# statistics are stored in float16: the two routes' float32 sums, added in other orders, may round to
# neighbouring float16 values (one step: 2**-10 of the value)
HALF_STEP = 2.0**-10
TOKENS = 48
LAYERS, HEADS = 2, 5
RELATION = {
    "relation": "r",
    "source": [["tokens", 30]],
    "target": [["tokens", 3]],
    "source_text": "s",
    "target_text": "t",
}


def _write(directory, snapshots, steps, as_tensor, **writer):
    """Two probes (every map; a budget of 2 maps + 2 summaries, the most changed) of causal attention."""
    tokens = repeated_tokens(TOKENS, seed=3)
    with AttentionSummaryWriter(str(directory), **writer) as w:
        for name in ("full", "budget"):
            w.add_probe(
                name,
                tokens,
                special=[i == 0 for i in range(TOKENS)],
                word_of={"tokens": list(range(TOKENS))},
                relations=[dict(RELATION)],
            )
        for step in steps:
            for name, heads in (("full", None), ("budget", HeadChoice(2, "changed", summaries=2))):
                stream = w.open_snapshot(step, name, "self", causal=True, heads=heads)
                for layer in snapshots[step]:
                    stream.add_layer(torch.from_numpy(layer.copy()).as_subclass(Watched) if as_tensor else layer)
                stream.commit()


def _snapshots(count):
    maps = DriftingMaps(LAYERS, HEADS, TOKENS, seed=11, drift=0.4, causal=True)
    return [maps.next() for _ in range(count)]


class Watched(torch.Tensor):
    """A CPU tensor standing for a GPU's: every torch operation on it, or on what is made from it, is
    recorded with its thread (a GPU layer is worked on by its caller's thread only: its CUDA stream)."""

    threads = set()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.threads.add(threading.current_thread().name)
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.fixture
def on_device(monkeypatch):
    """torch tensors of any size take the GPU's route; every array that crosses to the host is recorded."""
    monkeypatch.setattr(snapshot_stream, "on_accelerator", arrays.is_foreign)
    monkeypatch.setattr(snapshot_stream, "DEVICE_LAYER_BYTES", 0)
    Watched.threads = set()
    crossed = []
    to_host = arrays.to_host

    def recording(a, dtype=None):
        out = to_host(a, dtype)
        if arrays.is_foreign(a):
            crossed.append((out.shape, out.dtype))
        return out

    monkeypatch.setattr(arrays, "to_host", recording)
    yield crossed
    assert Watched.threads <= {threading.main_thread().name}, Watched.threads


def _compare(host_run, device_run, steps):
    for name in ("full", "budget"):
        a, b = host_run.probe(name), device_run.probe(name)
        assert a.steps == b.steps == list(steps)
        for step in steps:
            assert a.stored_heads(step) == b.stored_heads(step)
            assert a.summarized_heads(step) == b.summarized_heads(step)
            for layer, heads in a.stored_heads(step).items():
                for head in range(HEADS) if heads is None else heads:
                    one = dict(layer=layer, head=head)
                    assert np.array_equal(a.quantized(step, **one), b.quantized(step, **one))
            for layer, heads in a.summarized_heads(step).items():
                for head in heads:
                    sa, sb = a.summary(step, layer, head), b.summary(step, layer, head)
                    assert all(np.array_equal(x, y) for x, y in zip(sa, sb))
        sa, sb = a.stats(), b.stats()
        for stat in sa:
            np.testing.assert_allclose(sa[stat], sb[stat], atol=2e-6, rtol=HALF_STEP, err_msg=stat)
        fa, fb = a.relation_features()[1], b.relation_features()[1]
        np.testing.assert_allclose(fa, fb, atol=1e-6, rtol=0)


def test_a_layer_on_an_accelerator_is_stored_as_the_host_stores_it(tmp_path, on_device):
    snapshots = _snapshots(4)
    _write(tmp_path / "host", snapshots, range(4), as_tensor=False)
    assert not on_device  # numpy never takes the accelerator's route
    _write(tmp_path / "device", snapshots, range(4), as_tensor=True)
    host, device = read_run(str(tmp_path / "host")), read_run(str(tmp_path / "device"))
    _compare(host, device, range(4))
    stats = np.stack(list(host.probe("budget").stats().values()))
    # statistics that move (all but sep and max_logit, which this probe has not): a real check
    assert np.isfinite(stats).mean() >= 10 / 12 and np.nanstd(stats[:, 1:]) > 0
    # what crossed the bus: the stored maps as bytes, single heads in float32 (those that entered the
    # budget's maps or summaries) or float16 (the first snapshot: drift's reference); never a float32
    # layer. The rest is small (statistics, row sums, sketches).
    head = TOKENS * TOKENS
    big = {(len(shape), dtype.name) for shape, dtype in on_device if int(np.prod(shape)) >= head}
    assert big == {(2, "uint8"), (2, "float32"), (2, "float16")}
    assert all(int(np.prod(shape)) <= head or dtype == np.uint8 for shape, dtype in on_device)


def test_a_large_layer_is_quantized_on_the_device_a_head_at_a_time(tmp_path, on_device, monkeypatch):
    """A layer written a head at a time (long probes: blobs.HEADS_BLOB_WEIGHTS, lowered to this size):
    each head quantized where it lives on the caller's thread, its bytes compressed over the cores."""
    monkeypatch.setattr(snapshot_stream, "HEADS_BLOB_WEIGHTS", HEADS * TOKENS * TOKENS - 1)
    snapshots = _snapshots(2)
    _write(tmp_path / "host", snapshots, range(2), as_tensor=False)
    _write(tmp_path / "device", snapshots, range(2), as_tensor=True)
    heads = [shape for shape, dtype in on_device if shape == (TOKENS, TOKENS) and dtype == np.uint8]
    assert len(heads) == 2 * LAYERS * HEADS  # the "full" probe's two snapshots, one head at a time
    _compare(read_run(str(tmp_path / "host")), read_run(str(tmp_path / "device")), range(2))


def test_a_background_writer_keeps_only_layers_it_measures_on_the_callers_thread(tmp_path, on_device):
    """A layer the write queue would take in the background is copied to the host whole (float32) and
    measured there; one it runs on the caller's thread stays on its device. Either way the caller's
    thread alone touches the tensor (the fixture checks), and the log is the host's."""
    snapshots = _snapshots(2)
    layer_bytes = 4 * HEADS * TOKENS * TOKENS
    _write(tmp_path / "host", snapshots, range(2), as_tensor=False)
    for route, queued in (("copied", 8 * layer_bytes), ("kept", 2 * layer_bytes)):
        on_device.clear()
        _write(tmp_path / route, snapshots, range(2), as_tensor=True, background=True, max_queued_bytes=queued)
        layers = [shape for shape, dtype in on_device if shape == (HEADS, TOKENS, TOKENS) and dtype == np.float32]
        assert len(layers) == (2 * 2 * LAYERS if route == "copied" else 0), route  # steps x probes x layers
        assert (len(on_device) > len(layers)) == (route == "kept")  # kept: statistics, bytes, heads crossed
        _compare(read_run(str(tmp_path / "host")), read_run(str(tmp_path / route)), range(2))


def test_drift_after_a_resume_is_measured_on_the_device_against_the_kept_reference(tmp_path, on_device):
    """A second writer (a resumed run) reads the first snapshot's float16 reference back from the run
    directory and moves it to the layer's device a layer at a time."""
    snapshots = _snapshots(4)
    for route, as_tensor in (("host", False), ("device", True)):
        _write(tmp_path / route, snapshots, range(2), as_tensor)
        _write(tmp_path / route, snapshots, range(2, 4), as_tensor)
    host, device = read_run(str(tmp_path / "host")), read_run(str(tmp_path / "device"))
    _compare(host, device, range(4))
    drift = device.probe("full").stats()["drift"]
    assert drift[0].max() == 0 and drift[2:].min() > 0  # measured after the resume, against step 0


def test_a_bad_layer_on_an_accelerator_is_refused_with_where(tmp_path, on_device):
    layer = torch.from_numpy(_snapshots(1)[0][0].copy())
    layer[1, 7, 2] = float("nan")
    layer[3, 9, 0] = -0.5
    with AttentionSummaryWriter(str(tmp_path)) as w:
        w.add_probe("p", repeated_tokens(TOKENS))
        stream = w.open_snapshot(0, "p", "self", causal=True)
        with pytest.raises(ValueError, match=r"\(2 of them; the first at layer 0, head 1, query row 7"):
            stream.add_layer(layer)
        stream = w.open_snapshot(0, "p", "self", causal=True)
        with pytest.raises(TypeError, match="floating-point"):
            stream.add_layer(torch.ones((HEADS, TOKENS, TOKENS), dtype=torch.int32))


def test_a_bfloat16_layer_is_measured_in_float32_where_it_lives(tmp_path, on_device):
    """The model's dtype stays on the device; each block is widened there (bf16 -> float32 is exact),
    so the stored weights are the bf16 weights within 1/255."""
    snapshots = _snapshots(1)
    half = [torch.from_numpy(layer).to(torch.bfloat16) for layer in snapshots[0]]
    with AttentionSummaryWriter(str(tmp_path)) as w:
        w.add_probe("p", repeated_tokens(TOKENS))
        stream = w.open_snapshot(0, "p", "self", causal=True)
        for layer in half:
            stream.add_layer(layer)
        stream.commit()
    stored = read_run(str(tmp_path)).probe("p").attention(0)
    exact = np.stack([layer.float().numpy() for layer in half])
    assert np.abs(stored - exact).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("family, options", [("llama-gqa", {"bf16": True}), ("t5", {})])
def test_a_trainer_run_measured_on_the_device_logs_what_the_host_route_logs(
    family, options, tmp_path, monkeypatch, on_device
):
    """Through the real callback and Trainer: the probe pass hands the model's own tensors (bf16 under
    the bf16 setup) and the writer measures every layer where it lives; the stored maps are the model's
    own eager attention at every step, and the log equals the host route's."""
    from tb_attention_plugin.callback import AttentionCallback
    from tb_attention_plugin.callback.capture import probe_pass
    from tb_attention_plugin.writer.write_queue import WriteQueue
    from test_compatibility import NAMES, PROBES, assert_every_step_is_the_models_own, specs_for, train

    runs = {}
    for route in ("host", "device"):
        if route == "device":
            monkeypatch.setattr(probe_pass, "for_writer", lambda w: w)
            monkeypatch.setattr(WriteQueue, "runs_inline", lambda self, nbytes: True)
        cb = AttentionCallback(PROBES, every_n_steps=1, log_dir=tmp_path / route, names=NAMES)
        trainer, keep, _ = train(tmp_path / f"train-{route}", family, callback=cb, **options)
        runs[route] = read_run(str(tmp_path / route))
        assert bool(on_device) == (route == "device")  # tensors measured in their namespace: that route only
    assert_every_step_is_the_models_own(
        tmp_path / "device", keep, trainer.processing_class, specs_for(runs["device"].probes), [0, 1, 2, 3]
    )
    host, device = runs["host"], runs["device"]
    assert host.probes == device.probes
    for name in host.probes:
        a, b = host.probe(name), device.probe(name)
        for kind in a.kinds:
            for step in a.steps_of(kind):
                assert np.array_equal(a.quantized(step, kind), b.quantized(step, kind)), (name, kind, step)
            sa, sb = a.stats(kind), b.stats(kind)
            for stat in sa:
                where = f"{name} {kind} {stat}"
                np.testing.assert_allclose(sa[stat], sb[stat], atol=2e-6, rtol=HALF_STEP, err_msg=where)


def test_the_sketch_of_a_layer_on_an_accelerator_is_the_hosts():
    from tb_attention_plugin.writer.head_choice import pooled_rows

    for queries, keys in ((48, 48), (7, 300), (100, 3)):
        layer = np.random.default_rng(queries).random((3, queries, keys)).astype(np.float32)
        np.testing.assert_allclose(pooled_rows(torch.from_numpy(layer)), pooled_rows(layer), atol=1e-6, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the route CPU tensors take above)")
def test_on_a_gpu_a_large_layer_is_measured_there_and_stored_as_the_host_stores_it(tmp_path, monkeypatch):
    """With a real GPU, nothing patched: a writer without a background thread measures every layer on
    its caller's thread, so CUDA tensors are measured on the GPU."""
    snapshots = _snapshots(4)
    _write(tmp_path / "host", snapshots, range(4), as_tensor=False)
    original = torch.from_numpy
    monkeypatch.setattr(torch, "from_numpy", lambda a: original(a).cuda())
    _write(tmp_path / "device", snapshots, range(4), as_tensor=True)
    _compare(read_run(str(tmp_path / "host")), read_run(str(tmp_path / "device")), range(4))
