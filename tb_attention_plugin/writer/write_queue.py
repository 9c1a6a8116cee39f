"""Writes run on one background thread, in order, so that the training loop does not wait for encoding.

Quantizing, computing statistics and compressing a snapshot costs ~40 ns per weight: seconds for a
large model, during which a GPU would idle. The writer checks its input on the caller's thread (errors
still come before anything is written) and queues the rest here. Memory stays bounded: a caller
waits while more than `max_bytes` of input is queued (back-pressure, never unbounded growth). What is
queued is written on `drain()`/`close()`, and at interpreter exit (also after an exception that ended
training), since every open queue is drained by an atexit hook.
"""

import atexit
import collections
import threading
import warnings
import weakref

from ..analysis.parallel import keep_serial
from .memory_release import release_freed_memory

_OPEN = weakref.WeakSet()


class WriteQueue:
    def __init__(self, max_bytes, name="tb-attention-writer"):
        self.max_bytes = int(max_bytes)
        self._jobs = collections.deque()
        self._queued_bytes = 0
        self._busy = False
        self._closed = False
        self._warned = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def submit(self, job, nbytes=0):
        """Queue `job()`; waits first while the queued input would exceed max_bytes. An item of more
        than a quarter of the budget (a large model's layer) runs on the caller's thread once the queue
        is empty: the caller then waits for it, so such an item is never held while the caller makes
        the next one (a long probe's pass holds one layer, not two), and what it freed is given back
        to the operating system first (memory_release.py)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the write queue is closed")
            if not self.runs_inline(nbytes):
                while self._jobs and self._queued_bytes + nbytes > self.max_bytes:
                    self._cond.wait()
                self._jobs.append((job, nbytes))
                self._queued_bytes += nbytes
                self._cond.notify_all()
                return
            while self._jobs or self._busy:
                self._cond.wait()
            self._busy = True  # the background thread waits for it
        try:
            self._run_job(job, "")
            release_freed_memory()  # what it freed, before the caller computes the next layer
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def runs_inline(self, nbytes):
        """Whether an item of `nbytes` runs on the caller's thread (see `submit`)."""
        return nbytes > self.max_bytes // 4

    def drain(self):
        """Wait until every queued job has run."""
        with self._cond:
            while self._jobs or self._busy:
                self._cond.wait()

    def close(self):
        """Run what is queued, then stop the thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        _OPEN.discard(self)

    def _work(self):
        keep_serial()  # beside training: the cores are training's
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:  # closed and empty
                    self._cond.notify_all()
                    return
                while self._busy:  # a large item on a caller's thread
                    self._cond.wait()
                job, nbytes = self._jobs.popleft()
                self._busy = True
            try:
                self._run_job(job, " in the background")
            finally:
                job = None  # not held while waiting for the next: a snapshot's job holds its record's heads
                with self._cond:
                    self._busy = False
                    self._queued_bytes -= nbytes
                    self._cond.notify_all()

    def _run_job(self, job, where):
        try:
            job()
        except Exception as e:  # noqa: BLE001 - a failed snapshot must not stop the ones after it
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"tb-attention: a snapshot could not be written{where}: "
                    f"{type(e).__name__}: {e}. Training goes on; later snapshots are still written.",
                    RuntimeWarning,
                    stacklevel=1,
                )


@atexit.register
def _drain_at_exit():
    """Whatever is still queued when the interpreter exits (training raised, or close() was never
    called) is written before the process ends."""
    for queue in list(_OPEN):
        queue.close()
