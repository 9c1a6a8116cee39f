"""What the plugin's data layer raises (server/routes.py turns it into HTTP answers) and how it logs problems.

Corrupted or inconsistent records are logged once each (not at every poll of the tab), in a bounded
memory of what was said.
"""

import logging

from ..reading.lru_cache import LRUCache

logger = logging.getLogger("tb_attention_plugin.server.data")  # the name the plugin always logged under

# "every point": the loaders keep everything for this plugin (server/entry.py sets the flag)
DOWNSAMPLE_ALL = 1_000_000

# What a data provider raises on a record it cannot convert (e.g. a tensor whose content does not
# match its shape): the Python provider converts a whole tag at once, so one bad record fails it all.
PROVIDER_DECODE_ERRORS = (ValueError, TypeError, IndexError)


class Unavailable(Exception):
    """The requested run/probe/kind/step/layer does not exist or cannot be decoded (HTTP 404)."""


class Unservable(Exception):
    """TensorBoard's loader cannot hand the plugin this data (HTTP 400); the message says what to do."""


class WarnOnce:
    """Logs each problem (by key) once, remembering the last 1024 keys."""

    def __init__(self):
        self._warned = LRUCache(1024)

    def __call__(self, key, message, *args):
        if self._warned.get(key) is None:
            self._warned.put(key, True)
            logger.warning("tb-attention: " + message, *args)
