"""TensorBoard entry point (`tensorboard_plugins` group): a loader that is always safe to import.

TensorBoard imports every entry point at start-up and an ImportError there stops it, so this module
imports nothing but TensorBoard's own base classes and the format's names (format.py imports numpy,
zstandard and protos only inside its codec functions); the real plugin (numpy) is imported inside
`load`, where TensorBoard logs a failure and carries on without the tab. Never torch or transformers:
the TensorBoard side only reads logs.
"""

import logging

from tensorboard.plugins import base_plugin

from .format import PLUGIN_NAME  # format.py imports numpy, zstandard and protos only where it codes

logger = logging.getLogger(__name__)


def _parse_samples(value):
    """`--samples_per_plugin` as a dict; TensorBoard parses it, but `configure(samples_per_plugin=
    "a=1")` from Python code can hand over the raw string."""
    if isinstance(value, dict):
        return value
    result = {}
    for token in str(value or "").split(","):
        name, sep, count = token.strip().partition("=")
        if sep:
            try:
                result[name.strip()] = int(count)
            except ValueError:
                logger.warning("tb-attention: ignoring malformed --samples_per_plugin entry %r", token)
    return result


class AttentionLoader(base_plugin.TBLoader):
    """Keeps every attention snapshot by default and loads the plugin lazily."""

    def fix_flags(self, flags):
        # A delta snapshot needs its keyframe, and "watch heads form" needs every step: keep them all
        # (0 = all) unless the user asked otherwise with --samples_per_plugin attention=K.
        samples = _parse_samples(getattr(flags, "samples_per_plugin", None))
        samples.setdefault(PLUGIN_NAME, 0)
        flags.samples_per_plugin = samples
        # The Python loader (--load_fast=false) only polls the newest event file of a run, but the
        # callback writes its own file next to transformers' TensorBoardCallback file in the same run
        # directory: poll all of them (RustBoard reads every file anyway and ignores this flag).
        if getattr(flags, "reload_multifile", None) is None:
            flags.reload_multifile = True

    def load(self, context):
        from .plugin import AttentionPlugin  # numpy and the format only here, after start-up

        return AttentionPlugin(context)
