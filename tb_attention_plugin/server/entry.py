"""TensorBoard entry point (`tensorboard_plugins` group): a loader that is always safe to import.

TensorBoard imports every entry point at start-up and an ImportError there stops it, so this module
imports nothing but TensorBoard's own base classes and the format's names (format/metadata.py imports
the standard library only); the real plugin (numpy) is imported inside
`load`, where TensorBoard logs a failure and carries on without the tab. Never torch or transformers:
the TensorBoard side only reads logs.
"""

import logging

from tensorboard.plugins import base_plugin

from ..format.metadata import PLUGIN_NAME  # the standard library only
from ..reading.storage import storage_for  # os and glob only; TensorBoard's filesystem layer inside

# Samples of the plugin's data the loaders keep when the plugin reads the event files itself: one
# per tag lists the runs and activates the tab, and keeps TensorBoard's memory independent of the logs.
SAMPLES_WHEN_READING_FILES = 1

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


def reads_files(flags):
    """Whether the plugin can read the runs' event files itself: a --logdir that is a local directory
    or a URL TensorBoard's filesystem layer reads (not --logdir_spec, whose run names are not paths)."""
    logdir = getattr(flags, "logdir", None)
    if not logdir or getattr(flags, "logdir_spec", None):
        return False
    return storage_for(logdir) is not None


class AttentionLoader(base_plugin.TBLoader):
    """Decides how the plugin reads (its own index of the event files, or every sample kept by the
    loaders) and loads the plugin lazily."""

    def __init__(self):
        self._read_files = None

    def fix_flags(self, flags):
        # Reading the files itself, the plugin needs one sample per tag from the loaders. Otherwise a
        # delta snapshot needs its keyframe, and "watch heads form" needs every step: keep them all
        # (0 = all). --samples_per_plugin attention=K still wins.
        self._read_files = reads_files(flags)
        samples = _parse_samples(getattr(flags, "samples_per_plugin", None))
        samples.setdefault(PLUGIN_NAME, SAMPLES_WHEN_READING_FILES if self._read_files else 0)
        flags.samples_per_plugin = samples
        if not self._read_files:
            logger.warning(
                "tb-attention: the plugin cannot read the log directory itself (%s): TensorBoard will keep "
                "every attention record in memory. A local --logdir, or one TensorBoard's filesystem "
                "layer reads (s3:// with boto3; gs:// and others with fsspec and its implementation, "
                "e.g. gcsfs), keeps memory bounded",
                "--logdir_spec" if getattr(flags, "logdir_spec", None) else repr(getattr(flags, "logdir", None)),
            )
        # The Python loader (--load_fast=false) only polls the newest event file of a run, but the
        # callback writes its own file next to transformers' TensorBoardCallback file in the same run
        # directory: poll all of them (RustBoard reads every file anyway and ignores this flag).
        if getattr(flags, "reload_multifile", None) is None:
            flags.reload_multifile = True

    def load(self, context):
        from .routes import AttentionPlugin  # numpy and the format only here, after start-up

        return AttentionPlugin(context, read_files=self._read_files)
