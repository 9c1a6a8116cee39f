"""A small thread-safe LRU cache bounded by entry count and by bytes.

TensorBoard serves requests from several threads, and a long training run must not make the plugin
grow without bound: every cache of the plugin is one of these.
"""

import collections
import threading


class LRUCache:
    def __init__(self, max_entries, max_bytes=None, sizeof=None):
        self._max_entries = int(max_entries)
        self._max_bytes = max_bytes
        self._sizeof = sizeof or (lambda value: 0)
        self._items = collections.OrderedDict()  # key -> (value, size)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value):
        size = int(self._sizeof(value))
        if self._max_bytes is not None and size > self._max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and (
                len(self._items) > self._max_entries or (self._max_bytes is not None and self._bytes > self._max_bytes)
            ):
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted

    def pop(self, key):
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self._bytes -= item[1]

    def items(self):
        """A snapshot list of (key, value), least recently used first."""
        with self._lock:
            return [(key, item[0]) for key, item in self._items.items()]

    def __len__(self):
        with self._lock:
            return len(self._items)

    @property
    def max_bytes(self):
        return self._max_bytes

    @property
    def nbytes(self):
        with self._lock:
            return self._bytes
