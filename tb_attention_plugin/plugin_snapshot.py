"""Reading the layers of one snapshot: parallel `read_blob` calls and a keyframe cache.

Through RustBoard every gRPC answer larger than a few KB costs ~40 ms of latency on this stack
(not bandwidth: a 40 KB blob and twelve concurrent ones take about the same time). So the blobs of a
snapshot are fetched concurrently in one wave: every requested layer, plus the keyframe each delta
layer will most likely need (the latest keyframe step seen so far for that layer). A wrong or
missing guess costs a second wave. Decoded keyframe layers (uint8, never floats) stay in a
byte-bounded LRU keyed by (blob key, record wall time), so a rewritten keyframe is another entry.
"""
import bisect
import concurrent.futures
import threading

from . import format as fmt
from .plugin_cache import LRUCache

MAX_KNOWN_KEYFRAMES = 4096  # per (tag, layer)


class SnapshotReader:
    def __init__(self, data_provider, *, keyframe_cache_bytes=64 << 20, workers=16):
        self._provider = data_provider
        self.keyframes = LRUCache(1 << 14, max_bytes=keyframe_cache_bytes, sizeof=lambda a: a.nbytes)
        self._known = LRUCache(512)  # (eid, run, tag) -> {layer: sorted keyframe steps}
        self._known_lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                           thread_name_prefix="tb-attention-blob")

    # ------------------------------------------------------------ blobs
    def _blob(self, ctx, key):
        blob = self._provider.read_blob(ctx, blob_key=key)
        if not isinstance(blob, (bytes, bytearray)):
            raise fmt.FormatError("blob is not bytes")
        return bytes(blob)

    def _fetch(self, ctx, keys):
        """{key: future}; one blob is read on this thread (no hand-off latency)."""
        if len(keys) == 1:
            future = concurrent.futures.Future()
            try:
                future.set_result(self._blob(ctx, keys[0]))
            except Exception as e:  # noqa: BLE001 - re-raised by .result() where the blob is used
                future.set_exception(e)
            return {keys[0]: future}
        return {key: self._pool.submit(self._blob, ctx, key) for key in dict.fromkeys(keys)}

    # ------------------------------------------------------------ keyframe steps seen so far
    def _learn(self, series_key, layer, step):
        with self._known_lock:
            known = self._known.get(series_key)
            if known is None:
                known = {}
                self._known.put(series_key, known)
            steps = known.setdefault(layer, [])
            i = bisect.bisect_left(steps, step)
            if (i == len(steps) or steps[i] != step) and len(steps) < MAX_KNOWN_KEYFRAMES:
                steps.insert(i, step)

    def _guess(self, series_key, layer, step):
        with self._known_lock:
            steps = (self._known.get(series_key) or {}).get(layer, [])
            i = bisect.bisect_right(steps, step) - 1
            return steps[i] if i >= 0 else None

    # ------------------------------------------------------------ layers
    def read(self, ctx, series_key, series, step, layer_ids, heads):
        """-> list of uint8 [H, Q, K], one per layer id. Raises FormatError (or the provider's
        NotFoundError/ValueError) when a layer cannot be decoded."""
        wall_time, keys = series.refs[step]
        wanted = [keys[1 + l] for l in layer_ids]
        for l in layer_ids:  # speculative keyframe reads, in the same wave
            ref = self._ref_entry(series, series_key, l, self._guess(series_key, l, step))
            if ref is not None and ref[0] != keys[1 + l] and self.keyframes.get(ref) is None:
                wanted.append(ref[0])
        fetched = self._fetch(ctx, wanted)

        blobs, needs = {}, {}
        for l in layer_ids:
            blob = fetched[keys[1 + l]].result()
            encoding, ref_step, _, shape = fmt.layer_blob_info(blob)
            if shape[0] != heads:
                raise fmt.FormatError(f"layer {l} has {shape[0]} heads, the metadata says {heads}")
            blobs[l] = blob
            if encoding == fmt.ENCODING_DELTA:
                ref = self._ref_entry(series, series_key, l, ref_step)
                if ref is None:
                    raise fmt.FormatError(f"its keyframe at step {ref_step} is not loaded (with "
                                          f"--samples_per_plugin attention=K, use 0 to keep every step)")
                needs[l] = ref
                self._learn(series_key, l, ref_step)
            else:
                self._learn(series_key, l, step)

        second = [ref[0] for ref in needs.values() if self.keyframes.get(ref) is None and ref[0] not in fetched]
        if second:
            fetched.update(self._fetch(ctx, second))

        out = []
        for l in layer_ids:
            if l not in needs:
                q = fmt.decode_layer(blobs[l])
                self.keyframes.put((keys[1 + l], wall_time), q)
                out.append(q)
            else:
                out.append(self._decode_delta(ctx, blobs[l], needs[l], fetched))
        return out

    @staticmethod
    def _ref_entry(series, series_key, layer, ref_step):
        """Cache key (blob key, wall time) of a layer's blob at ref_step, or None if not loaded."""
        if ref_step is None:
            return None
        record = series.refs.get(ref_step)
        return None if record is None else (record[1][1 + layer], record[0])

    def _decode_delta(self, ctx, blob, ref, fetched):
        reference = self.keyframes.get(ref)
        if reference is not None:
            try:
                return fmt.decode_layer(blob, reference)
            except fmt.FormatError:
                self.keyframes.pop(ref)  # stale (a resume rewrote that step): read it again
        future = fetched.get(ref[0]) or self._fetch(ctx, [ref[0]])[ref[0]]
        raw = future.result()
        if fmt.layer_blob_info(raw)[0] != fmt.ENCODING_KEYFRAME:
            raise fmt.FormatError("the record its keyframe was at is no longer a keyframe")
        reference = fmt.decode_layer(raw)
        self.keyframes.put(ref, reference)
        return fmt.decode_layer(blob, reference)
