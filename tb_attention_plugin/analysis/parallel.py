"""A large layer's work spread over the CPU's cores.

A large layer (a long probe, an LLM's many heads) is measured and encoded while the training step waits
for it (writer/write_queue.py runs it on the caller's thread), and the cores torch used for the forward
are idle meanwhile. numpy and zstd release the GIL, so threads over blocks of heads use them. Work on
the writer's background thread (small layers, written beside training) stays on that one thread, and so
does work already running on one of these threads.
"""

import concurrent.futures
import os
import threading

MAX_THREADS = 8
_local = threading.local()
_lock = threading.Lock()
_pool = None


def usable_cpus():
    """The CPUs this process may run on (its affinity: a job scheduler's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def keep_serial():
    """Run every `map_spread` of the calling thread on it alone (a background thread beside training)."""
    _local.serial = True


def map_spread(fn, items):
    """[fn(x) for x in items], the items spread over up to MAX_THREADS threads unless this thread keeps
    serial; results in order, the first exception raised."""
    items = list(items)
    if len(items) < 2 or getattr(_local, "serial", False):
        return [fn(x) for x in items]
    pool = _shared_pool()
    if pool is None:
        return [fn(x) for x in items]
    return list(pool.map(fn, items))


def _shared_pool():
    global _pool
    with _lock:
        if _pool is None:
            workers = min(MAX_THREADS, usable_cpus())
            if workers < 2:
                return None
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="tb-attention-spread", initializer=keep_serial
            )
        return _pool


def _forget_pool_in_child():
    """A forked child (a DataLoader worker) has none of the parent's threads: it makes its own pool."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool_in_child)
