"""Read-ahead of compressed layer blobs, so that a snapshot request rarely waits on the data server.

Through RustBoard a lone `read_blob` answer larger than a few KB takes ~40 ms (Nagle + delayed ACK
in the data server), while a few reads kept in flight stream thousands of blobs per second. So a few
daemon workers copy the layer blobs of every step of the series the tab looks at into a byte-bounded
LRU of the stored bytes (zstd frames, about a third of a byte per weight; never decoded arrays):
first the steps around the most recently requested one (playback neighbours), then the rest of that
series, then the other listed series, until the budget is covered. Entries are keyed by (blob key,
record wall time) as the decoded layers are, so a record rewritten after a resume is another entry.

The series of a recently requested run are re-listed every SERIES_POLL_S (in a worker), so new steps
of a live run are read ahead and a rewritten or removed step stops being served from the old record
without waiting for the tab's next ./index poll. Workers exit after IDLE_EXIT_S without work and are
started again on demand: nothing runs, and nothing keeps the process alive, while the tab is idle.
"""

import bisect
import collections
import itertools
import logging
import threading
import time
import typing

from ...reading.lru_cache import LRUCache

logger = logging.getLogger(__name__)

BLOB_CACHE_BYTES = 256 << 20  # read-ahead budget of the whole plugin (all runs): stored bytes
WORKERS = 8  # reads in flight: enough to stream, few enough not to crowd requests
SERIES_POLL_S = 2.0  # re-listing period of the runs requested within ACTIVE_S
ACTIVE_S = 120.0
IDLE_EXIT_S = 30.0
MAX_SERIES = 256  # series followed at once (least recently requested dropped first)
FILL = 0.9  # a pass stops once it covers this fraction of the budget
ENTRY_OVERHEAD = 200  # bytes of bookkeeping per cached blob, counted in the budget
NEIGHBOURS = 9  # steps around a requested one that must be cached, else a new pass

_numbers = itertools.count()


def blob_cache(max_bytes=BLOB_CACHE_BYTES):
    """The LRU of stored layer blobs: (blob key, wall time) -> bytes."""
    return LRUCache(1 << 22, max_bytes=max_bytes, sizeof=lambda blob: len(blob) + ENTRY_OVERHEAD)


def playback_order(steps, focus):
    """Logged steps by distance to `focus`, the later one first on ties (playback goes forward)."""
    if not steps:
        return
    start = min(bisect.bisect_left(steps, focus), len(steps) - 1)
    yield steps[start]
    for d in range(1, len(steps)):
        if start + d < len(steps):
            yield steps[start + d]
        if start - d >= 0:
            yield steps[start - d]


class _Poll(typing.NamedTuple):
    runs: dict  # (eid, run) -> ctx of the runs requested within ACTIVE_S


class _Read(typing.NamedTuple):
    entry: tuple  # plugin_series.BlobEntry
    ctx: object


class _Watched:
    __slots__ = ("series", "ctx", "focus", "active_until")

    def __init__(self, series, ctx):
        self.series, self.ctx, self.focus, self.active_until = series, ctx, None, 0.0


class Prefetcher:
    """Reads ahead the layer blobs of watched series into `cache` with at most `workers` threads.

    read_blob(ctx, blob key) -> bytes reads one blob; refresh(ctx, eid, run) re-lists a run's series
    -> ({key: series listed now}, [keys of the series gone]): the poll watches the first and forgets
    the others (refresh never calls back into the Prefetcher). Series objects are series.BlobSeries:
    `.refs` {step: Record (wall time, (header key, layer keys...))} and sorted `.steps`.
    """

    def __init__(self, read_blob, cache, *, workers=WORKERS, refresh=None, poll_s=SERIES_POLL_S):
        self._read_blob = read_blob
        self.cache = cache
        self._refresh = refresh
        self._max_workers = workers
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self._watched = collections.OrderedDict()  # (eid, run, tag) -> _Watched; last: requested last
        self._generation = 0  # bumped whenever the plan must be made again
        self._plan, self._plan_generation = None, -1
        self._done_generation = -1
        self._in_flight = set()
        self._failed = LRUCache(4096)  # entries whose read failed: not retried by passes
        self._size_guess = 0  # largest blob seen: the size of those not read
        self._threads = 0
        self._waiting = 0  # workers waiting in _work for something to do
        self._next_poll = 0.0
        self._polling = False
        self._closed = False
        self.reads = 0  # blobs read by the workers (tests, benchmark)
        self.thread_name = f"tb-attention-prefetch-{next(_numbers)}"

    # ------------------------------------------------------------ what to read
    def watch(self, key, ctx, series, *, focus=None, requested=False):
        """Follow a series (or its new version). `requested`: a snapshot of it was just asked for at
        step `focus`, so it goes first and its run is polled; otherwise (./index) it goes last."""
        if self._max_workers <= 0:
            return
        with self._cond:
            if self._closed:
                return
            item = self._watched.get(key)
            changed = item is None or item.series is not series
            if item is None:
                item = self._watched[key] = _Watched(series, ctx)
                self._watched.move_to_end(key, last=False)
            item.series, item.ctx = series, ctx
            if requested:
                changed = (
                    changed
                    or next(reversed(self._watched)) != key
                    or (item.focus != focus and not self._neighbours_cached(series, focus))
                )
                item.focus = focus
                item.active_until = time.monotonic() + ACTIVE_S
                self._watched.move_to_end(key)
            while len(self._watched) > MAX_SERIES:
                self._watched.popitem(last=False)
            if changed:
                self._generation += 1
            if changed or (requested and self._threads == 0):  # a requested run is polled
                self._spawn()
                self._cond.notify_all()

    def _neighbours_cached(self, series, focus):
        """Whether the steps nearest `focus` are all cached (and touched: kept). Then a new focus
        needs no new pass, which would walk every entry of the watched series again."""
        for step in itertools.islice(playback_order(series.steps, focus), NEIGHBOURS):
            if any(self.cache.get(entry) is None for entry in series.refs[step].layer_entries()):
                return False
        return True

    def forget(self, key):
        """Stop following a series (its tag or run is gone)."""
        with self._cond:
            if not self._closed and self._watched.pop(key, None) is not None:
                self._generation += 1
                self._spawn()
                self._cond.notify_all()

    def _walk(self):
        """Entries to read, in priority order, until the pass covers FILL x the budget. Runs under
        the lock (one entry per next()). A finished pass touches what it covered from the farthest
        to the nearest, so the LRU evicts what the pass did not reach first, then its far end."""
        seen = []
        yield from self._cover(seen)
        for entry in reversed(seen):
            self.cache.get(entry)

    def _cover(self, seen):
        """The pass proper. Blobs not read yet count as large as the largest seen, and the reads
        still in flight from earlier passes are set aside, so the pass fits in the budget."""
        stale = len(self._in_flight)
        budget, covered = FILL * self.cache.max_bytes, 0
        for item in reversed(list(self._watched.values())):
            steps, refs = item.series.steps, item.series.refs
            focus = item.focus if item.focus is not None else (steps[-1] if steps else 0)
            for step in playback_order(steps, focus):
                for entry in refs[step].layer_entries():
                    seen.append(entry)
                    blob = self.cache.get(entry)
                    if blob is not None:
                        covered += len(blob) + ENTRY_OVERHEAD
                        self._size_guess = max(self._size_guess, len(blob))
                    elif entry not in self._in_flight and self._failed.get(entry) is None:
                        covered += self._size_guess + ENTRY_OVERHEAD
                        yield _Read(entry, item.ctx)
                    if covered + stale * (self._size_guess + ENTRY_OVERHEAD) >= budget:
                        return

    # ------------------------------------------------------------ workers
    def _spawn(self):
        """Under the lock: one more worker when none is waiting for work (up to the maximum), so a
        small series or an idle tab costs one thread, not `workers`."""
        if self._waiting == 0 and self._threads < self._max_workers:
            self._threads += 1
            threading.Thread(target=self._work, name=self.thread_name, daemon=True).start()

    def _active_runs(self, now):
        return {(eid, run): item.ctx for (eid, run, _), item in self._watched.items() if item.active_until > now}

    def _next_task(self, now):
        """Under the lock: a _Poll, a _Read or None."""
        if self._refresh is not None and not self._polling and now >= self._next_poll:
            runs = self._active_runs(now)
            if runs:
                self._polling = True
                return _Poll(runs)
        if self._plan_generation != self._generation:
            self._plan, self._plan_generation = self._walk(), self._generation
        task = next(self._plan, None)
        if task is None:
            self._done_generation = self._generation
            return None
        self._in_flight.add(task.entry)
        self._spawn()  # more to read, perhaps: let another worker look
        return task

    def _wait_time(self, now):
        if self._refresh is not None and self._active_runs(now):
            return max(0.05, self._next_poll - now) if not self._polling else self._poll_s
        return IDLE_EXIT_S

    def _work(self):
        idle_since = time.monotonic()
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    task = None if self._closed else self._next_task(now)
                    if task is not None:
                        break
                    if (
                        self._closed
                        or self._threads > 1
                        or (now - idle_since >= IDLE_EXIT_S and not self._active_runs(now))
                    ):
                        self._threads -= 1  # closed, another worker is left for the poll, or idle
                        return
                    self._waiting += 1
                    try:
                        self._cond.wait(self._wait_time(now))
                    finally:
                        self._waiting -= 1
            if isinstance(task, _Poll):
                self._poll(task.runs)
            else:
                self._read(task.entry, task.ctx)
            idle_since = time.monotonic()

    def _poll(self, runs):
        try:
            for (eid, run), ctx in runs.items():
                try:
                    listed, gone = self._refresh(ctx, eid, run)
                    for key, series in listed.items():
                        self.watch(key, ctx, series)
                    for key in gone:
                        self.forget(key)
                except Exception as e:  # noqa: BLE001 - a poll must never kill its worker
                    logger.debug("tb-attention: re-listing run %r failed: %s", run, e)
        finally:
            with self._cond:
                self._polling = False
                self._next_poll = time.monotonic() + self._poll_s

    def _read(self, entry, ctx):
        try:
            blob = self._read_blob(ctx, entry.key)
        except Exception as e:  # noqa: BLE001 - the request that needs it reads it and reports why
            self._failed.put(entry, True)
            logger.debug("tb-attention: read-ahead of a blob failed: %s", e)
        else:
            self.cache.put(entry, blob)
            with self._cond:
                self._size_guess = max(self._size_guess, len(blob))
        finally:
            with self._cond:
                self._in_flight.discard(entry)
                self.reads += 1

    # ------------------------------------------------------------ state
    def idle(self):
        """True when the latest pass has nothing left to read and no read is in flight (tests,
        benchmark)."""
        with self._cond:
            if self._max_workers <= 0:
                return True
            return not self._in_flight and not self._polling and self._done_generation == self._generation

    def close(self):
        """Stop the workers (they finish the read in progress) and forget every series."""
        with self._cond:
            self._closed = True
            self._watched.clear()
            self._cond.notify_all()
