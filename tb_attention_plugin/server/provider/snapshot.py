"""Reading the layers of one snapshot: cached or parallel `read_blob` calls, decoded-layer cache.

A layer blob is a keyframe or a delta to an earlier step's layer, which may itself be a delta (a
chain of at most blobs.MAX_CHAIN blobs; the writer refers to the previous snapshot). Through
RustBoard a lone gRPC answer larger than a few KB costs ~40 ms of latency on this stack, so stored
blobs are read ahead into a byte-bounded cache (server/provider/prefetch.py) and taken from there first. The
blobs still missing are fetched concurrently in one wave: for every requested layer, its blob and the
blobs its chain most likely needs (what the cached blobs' headers say of that chain, else the
previous logged steps), stopping at a layer already decoded. A wrong guess costs another wave, never
a wrong answer (every delta checks the CRC of its reference). Blobs and decoded layers (uint8, never
floats) are keyed by (blob key, record wall time), so a step rewritten after a resume is another
entry once the series lists the new record.
"""

import bisect
import concurrent.futures

from tensorboard import errors

from ...format.blobs import (
    ENCODING_DELTA,
    HEAD_ENCODINGS,
    MAX_CHAIN,
    HeadsLayer,
    decode_chain,
    layer_blob_info,
    walk_chain,
)
from ...format.metadata import FormatError
from ...reading.lru_cache import LRUCache
from .prefetch import blob_cache

CHAIN_GUESS = MAX_CHAIN  # blobs fetched ahead per layer when nothing is known


class BlobKeyRefused(Exception):
    """The data provider refused a blob key as malformed (RustBoard: a run or tag holding `"`, `\\`
    or a control character, which its blob keys cannot carry). Not a corrupted record."""


def _done(blob):
    future = concurrent.futures.Future()
    future.set_result(blob)
    return future


class SnapshotReader:
    def __init__(self, data_provider, *, decoded_cache_bytes=64 << 20, blobs=None, workers=48):
        self._provider = data_provider
        self.decoded = LRUCache(1 << 14, max_bytes=decoded_cache_bytes, sizeof=lambda a: a.nbytes)
        self.blobs = blobs if blobs is not None else blob_cache(0)  # (blob key, wall time) -> bytes
        self._info = LRUCache(1 << 16)  # (blob key, wall time) -> blobs.LayerInfo: chain knowledge
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tb-attention-blob")

    # ------------------------------------------------------------ blobs
    def read_blob(self, ctx, key):
        """One blob from the data provider (no cache)."""
        try:
            blob = self._provider.read_blob(ctx, blob_key=key)
        except errors.InvalidArgumentError as e:
            raise BlobKeyRefused(str(e)) from None
        if not isinstance(blob, (bytes, bytearray)):
            raise FormatError("blob is not bytes")
        return bytes(blob)

    def _load(self, ctx, entry):
        blob = self.read_blob(ctx, entry.key)
        self.blobs.put(entry, blob)
        return blob

    def _fetch(self, ctx, entries, into):
        """Make `into` (entry -> future) hold every entry: cached blobs at once, a single missing one
        read on this thread, more on the pool."""
        missing = []
        for entry in dict.fromkeys(entries):
            if entry not in into:
                blob = self.blobs.get(entry)
                if blob is not None:
                    into[entry] = _done(blob)
                else:
                    missing.append(entry)
        if len(missing) == 1:
            future = concurrent.futures.Future()
            try:
                future.set_result(self._load(ctx, missing[0]))
            except Exception as e:  # noqa: BLE001 - re-raised by .result() where the blob is used
                future.set_exception(e)
            into[missing[0]] = future
        else:
            into.update((e, self._pool.submit(self._load, ctx, e)) for e in missing)
        return into

    # ------------------------------------------------------------ layers
    @staticmethod
    def _entry(series, step, layer):
        """The BlobEntry (blob key, wall time) of a layer at a logged step, or None."""
        record = series.refs.get(step)
        return None if record is None else record.entry(layer)

    def _plan(self, series, step, layer):
        """Entries of the blobs this layer will most likely need, newest first."""
        plan, current = [], step
        while current is not None and len(plan) < CHAIN_GUESS:
            entry = self._entry(series, current, layer)
            if entry is None or self.decoded.get(entry) is not None:
                break
            plan.append(entry)
            info = self._chain_info(entry)
            if info is not None:
                if info.encoding != ENCODING_DELTA:
                    break
                current = info.ref_step
            else:
                i = bisect.bisect_left(series.steps, current)
                current = series.steps[i - 1] if i > 0 else None
        return plan

    def _chain_info(self, entry):
        """The LayerInfo of a blob: remembered, or read from the header of a cached blob."""
        info = self._info.get(entry)
        if info is None:
            blob = self.blobs.get(entry)
            if blob is not None:
                try:
                    info = layer_blob_info(blob)
                except FormatError:
                    return None
                self._info.put(entry, info)
        return info

    def read(self, ctx, series, step, layer_ids, shape):
        """-> list of uint8 [H, Q, K] (a blob of heads: a HeadsLayer, read a head at a time), one per
        layer id; `shape` = ProbeMetadata.layer_shape(), which
        every blob's header must match before it is decompressed. Raises FormatError (or the
        provider's NotFoundError/ValueError) when a layer cannot be decoded, BlobKeyRefused when the
        provider cannot read the run's blobs at all."""
        fetched = {}
        self._fetch(ctx, [e for l in layer_ids for e in self._plan(series, step, l)], fetched)
        return [self._decode(ctx, series, step, l, shape, fetched) for l in layer_ids]

    def _decode(self, ctx, series, step, layer, shape, fetched, retry=True):
        """Walk the chain back to a keyframe or a decoded layer (blobs.walk_chain), then decode
        forward; once more from the data provider when a cached reference turns out stale."""

        def entry_of(at):
            entry = self._entry(series, at, layer)
            if entry is None:
                raise FormatError(
                    f"its reference snapshot at step {at} is not loaded (with "
                    f"--samples_per_plugin attention=K, use 0 to keep every step)"
                )
            return entry

        def decoded_of(at):
            reference = self.decoded.get(entry_of(at))
            return reference if reference is not None and reference.shape == tuple(shape) else None

        def blob_of(at):
            entry = entry_of(at)
            return self._fetch(ctx, [entry], fetched)[entry].result()

        if decoded_of(step) is None:
            first = blob_of(step)
            if layer_blob_info(first, shape).encoding in HEAD_ENCODINGS:
                return HeadsLayer(first, shape)  # read a head at a time, never along a chain
        chain = walk_chain(step, blob_of, decoded_of, shape, label=f"layer {layer}: ")
        for link in chain.links:
            self._info.put(entry_of(link.step), link.info)
        try:
            return decode_chain(chain, shape, lambda at, decoded: self.decoded.put(entry_of(at), decoded))
        except FormatError:
            if not retry:
                raise
            # A cached reference may be stale (its step was rewritten with the same blob key while
            # the series still lists the old record): forget what this chain used and read it all
            # again from the data provider.
            used = [link.step for link in chain.links] + ([] if chain.base_step is None else [chain.base_step])
            for at in used:
                entry = entry_of(at)
                self.decoded.pop(entry)
                self.blobs.pop(entry)
                self._info.pop(entry)
            fetched.clear()
            return self._decode(ctx, series, step, layer, shape, fetched, retry=False)
