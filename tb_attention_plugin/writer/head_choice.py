"""Which heads keep their full maps at a snapshot when a storage budget cannot hold every head's.

The statistics of every head are stored at every snapshot whatever the choice; a head left out has no
map at that step (docs/format.md, "Storage budget"). Choices:
- "changed": the N heads that changed most since the previous snapshot of the same probe and kind.
  A head's change is the larger of (a) the mean total variation distance between its rows now and
  then, on the map pooled to at most SKETCH x SKETCH blocks (row blocks averaged, key blocks summed),
  and (b) the largest change of one of its statistics other than drift (measured from the first
  snapshot) and max_logit (in logit units, not weights). At the first snapshot nothing has changed
  yet: the first N heads in layer order.
- "rotate": N heads at a time in layer order, the next N at the next snapshot, round and round (the
  summaries: the M heads after those N).
- a list of (layer, head): those heads at every snapshot.
The next M heads in the same order keep a summary instead (format/summaries.py: block means and each
row's top-k keys); with a list of heads, none do.

The layers arrive one at a time (writer/snapshot_stream.py): a `Selection` keeps, as zstd frames,
only the heads that are among the N best so far, and the summaries of the next M, so a snapshot never
holds more than N maps and M summaries (and, while a layer is placed, what its entering heads keep:
they are made at once, spread over the cores).
"""

import heapq

import numpy as np

from ..format import arrays
from ..format.blobs import compress_head, compressor, encode_heads
from ..format.quantize import quantize
from ..format.summaries import encode_summary
from ..analysis.parallel import map_spread, usable_cpus

SKETCH = 16  # blocks per side of the pooled map "changed" compares
CHOICES = ("changed", "rotate")


class HeadChoice:
    """`maps` heads of each probe and kind keep their full map at each snapshot, chosen by `choice`,
    and the next `summaries` heads a summary."""

    def __init__(self, maps, choice="changed", summaries=0):
        for name, n in (("maps", maps), ("summaries", summaries)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} must be a number of heads >= 0, got {n!r}")
        if isinstance(choice, str):
            if choice not in CHOICES:
                raise ValueError(
                    f"the heads to store are 'changed', 'rotate' or a list of (layer, head), got {choice!r}"
                )
            self.named = None
        else:
            self.named = frozenset(_layer_head(lh) for lh in choice)
            maps, summaries = len(self.named), 0
        self.maps, self.choice = maps, choice if self.named is None else "named"
        self.summaries = summaries

    def _key(self):
        return self.maps, self.choice, self.named, self.summaries

    def __eq__(self, other):  # replay makes one per checkpoint: the same choice continues a tag
        return isinstance(other, HeadChoice) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def describe(self):
        """What the metadata says of it (`storage`), for readers and the tab."""
        return {"maps": self.maps, "choice": self.choice, "summaries": self.summaries}

    def selection(self, state):
        """A Selection for one snapshot of a (probe, kind) whose earlier snapshots left `state`."""
        return Selection(self, state)


def _layer_head(lh):
    try:
        layer, head = (int(x) for x in lh)
    except (TypeError, ValueError):
        raise ValueError(f"heads to store are (layer, head) pairs of integers, got {lh!r}") from None
    if layer < 0 or head < 0:
        raise ValueError(f"heads to store are (layer, head) pairs of integers >= 0, got {lh!r}")
    return layer, head


class ChoiceState:
    """What a (probe, kind) keeps from snapshot to snapshot for the choice: each layer's sketch and
    statistics (for "changed"), the snapshots taken (for "rotate"), the heads per layer seen."""

    def __init__(self):
        self.sketches, self.stats = {}, {}
        self.taken = 0
        self.total = None  # layers x heads, once one snapshot was written


class Selection:
    """The heads chosen so far in one snapshot, offered a layer at a time (`offer`), made into one
    layer blob per layer at the end (`blobs`)."""

    def __init__(self, choice, state):
        self.choice, self.state = choice, state
        # (score, tie-break, layer, head, frame or summary): the best N (maps) and the next M
        # (summaries) so far, worst first; a head pushed out of the maps is offered to the summaries
        self._maps, self._summaries = [], []
        self._sketches, self._stats = {}, {}
        self._heads = None

    def offer(self, index, layer, stats):
        """Layer `index`: its float weights [H, Q, K] and statistics [S, H] (drift excluded); a head
        is quantized and compressed (or summarized) only when it is among the best so far."""
        self._heads = heads = layer.shape[0]
        first = index * heads
        scores = self._scores(index, layer, stats, heads, first)
        entries = [(float(scores[h]), -(first + int(h)), index, int(h)) for h in np.flatnonzero(scores > -np.inf)]
        # which heads enter the maps or the summaries, learnt on copies of the heaps; then what they
        # keep, made over the cores; then the same placing with it
        wanted = {}  # head -> whether it enters the maps (else the summaries)

        def plan(head, as_map):
            wanted[head] = as_map
            return "map", "summary" if self.choice.summaries else None

        self._place(list(self._maps), list(self._summaries), entries, plan)
        # only the heads that enter leave a GPU's memory (format/arrays.py), as float32
        kept = per_head(
            layer, list(wanted), lambda x: arrays.to_host(x, np.float32), lambda h, w: self._keep(w, wanted[h])
        )
        made = dict(zip(wanted, kept))
        self._place(self._maps, self._summaries, entries, lambda h, as_map: made[h])

    def _keep(self, weights, as_map):
        """(compressed map or None, summary or None) of one head: its summary made with its map too,
        while its float weights are at hand (should later heads push it out of the maps, it may still
        keep a summary)."""
        summary = encode_summary(weights, _compress) if self.choice.summaries else None
        return (compress_head(quantize(weights)) if as_map else None), summary

    def _place(self, maps, summaries, entries, kept):
        """Put entries (score, tie-break, layer, head) into the heaps of maps and summaries, best
        first; kept(head, as_map) -> (map, summary) of a head that enters them."""
        for entry in entries:
            if _enters(maps, self.choice.maps, entry):
                out = _push(maps, self.choice.maps, entry + (kept(entry[3], True),))
                if out is not None and out[4][1] is not None and _enters(summaries, self.choice.summaries, out[:4]):
                    _push(summaries, self.choice.summaries, out[:4] + (out[4][1],))
            elif _enters(summaries, self.choice.summaries, entry):
                _push(summaries, self.choice.summaries, entry + (kept(entry[3], False)[1],))

    def _scores(self, index, layer, stats, heads, first):
        """One score per head of this layer: higher is kept first; -inf is never kept."""
        choice = self.choice
        if choice.named is not None:
            return np.array([0.0 if (index, h) in choice.named else -np.inf for h in range(heads)])
        flat = np.arange(first, first + heads)
        if choice.choice == "rotate":  # maps: the next N heads in turn; summaries: the M after them
            window, total = choice.maps + choice.summaries, self.state.total
            turn = flat - self.state.taken * choice.maps
            turn = turn % total if total else turn  # the first snapshot: the heads are not counted yet
            return np.where(turn < window, -turn.astype(float), -np.inf)
        sketch = pooled_rows(layer)
        self._sketches[index], self._stats[index] = sketch, stats
        before = self.state.sketches.get(index)
        if before is None or before.shape != sketch.shape:
            return -flat.astype(float)  # nothing to compare with: layer order
        moved = 0.5 * np.abs(sketch - before).sum(-1).mean(-1)
        with np.errstate(invalid="ignore"):
            shifted = np.abs(stats - self.state.stats[index])
        shifted = np.nanmax(np.where(np.isnan(shifted), -np.inf, shifted), axis=0)
        return np.maximum(moved, shifted)

    def blobs(self, layers, queries, keys):
        """One layer blob per layer with the heads kept; remembers this snapshot for the next one."""
        maps, summaries = {}, {}
        for _, _, index, head, (frame, _) in self._maps:
            maps.setdefault(index, []).append((head, frame))
        for _, _, index, head, summary in self._summaries:
            summaries.setdefault(index, []).append((head, summary))
        out = []
        for index in range(layers):
            kept = sorted(maps.get(index, []))
            out.append(
                encode_heads(
                    [h for h, _ in kept], [f for _, f in kept], queries, keys, sorted(summaries.get(index, []))
                )
            )
        state = self.state
        state.sketches.update(self._sketches)
        state.stats.update(self._stats)
        state.taken += 1
        state.total = layers * (self._heads or 0) or None
        return out


def _enters(heap, size, entry):
    """Whether `entry` (score, tie-break, ...) is among the best `size` of a heap of them."""
    return len(heap) < size or (size > 0 and entry[:2] > heap[0][:2])


def _push(heap, size, entry):
    """Put `entry` into the best `size` (`_enters` said it belongs); -> the entry it pushed out, or None."""
    if len(heap) < size:
        heapq.heappush(heap, entry)
        return None
    return heapq.heapreplace(heap, entry)


def _compress(data):
    return memoryview(compressor().compress(data)).tobytes()


def pooled_rows(layer):
    """float [H, Q, K] -> float32 [H, q, k] with q, k <= SKETCH: each row block's mean row, summed over
    key blocks (every row still a distribution over the key blocks). A layer on an accelerator is
    pooled there (format/arrays.py), a head at a time, from float64 running sums."""
    heads, queries, keys = layer.shape
    rows = np.linspace(0, queries, min(queries, SKETCH) + 1).astype(int)
    cols = np.linspace(0, keys, min(keys, SKETCH) + 1).astype(int)
    if arrays.is_host(layer):
        summed = np.add.reduceat(np.add.reduceat(layer, cols[:-1], axis=2), rows[:-1], axis=1)
    else:
        summed = np.stack([_block_sums(layer[h], rows, cols) for h in range(heads)])
    return (summed / np.diff(rows)[None, :, None]).astype(np.float32)


def _block_sums(head, rows, cols):
    """float [Q, K] on its device -> float64 numpy [q, k]: the sums over the blocks between `rows` and
    `cols`, a row block at a time (its column sums, then differences of their running sums taken at
    the blocks' ends): temporaries of one row block."""
    xp = arrays.namespace(head)
    ends = arrays.like(head, cols[1:] - 1)
    out = np.empty((len(rows) - 1, len(cols) - 1))
    for b, (r0, r1) in enumerate(zip(rows[:-1], rows[1:])):
        running = xp.cumulative_sum(xp.sum(head[r0:r1], axis=0, dtype=xp.float64))
        out[b] = np.diff(arrays.to_host(xp.take(running, ends)), prepend=0.0)
    return out


def per_head(layer, heads, fetch, work):
    """[work(h, fetch(layer[h])) for h in heads], spread over the cores. A GPU layer's heads are
    fetched on this thread (its CUDA stream: the layer's) a few at a time, then worked on over the
    cores; a host layer's are fetched and worked on in the threads."""
    if arrays.is_host(layer):
        return map_spread(lambda h: work(h, fetch(layer[h])), heads)
    out, step = [], usable_cpus()
    for start in range(0, len(heads), step):
        group = [(h, fetch(layer[h])) for h in heads[start : start + step]]
        out += map_spread(lambda item: work(*item), group)
    return out


def every_head(layer):
    """A layer blob of every head of float [H, Q, K], a head at a time (a large layer, so that readers
    can decode one head, and the writer never holds it quantized whole)."""
    heads, queries, keys = layer.shape
    frames = per_head(layer, list(range(heads)), quantize, lambda h, q: compress_head(q))
    return encode_heads(range(heads), frames, queries, keys)
