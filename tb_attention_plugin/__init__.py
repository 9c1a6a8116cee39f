"""tb-attention: watch attention heads form during training, in TensorBoard.

Everything is imported from here, lazily: TensorBoard imports this package to load the plugin, so
importing it must be cheap and can never fail, and it never imports torch or transformers.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "AttentionCallback": ".callback",
    "AttentionRecorder": ".callback",
    "AttentionSummaryWriter": ".writer.summary_writer",
    "read_run": ".reading.reader",
    "RunLog": ".reading.reader",
    "ProbeLog": ".reading.reader",
    "STAT_NAMES": ".format.metadata",
    "FORMAT_VERSION": ".format.metadata",
    "PLUGIN_NAME": ".format.metadata",
    "HEAD_TYPES": ".analysis.head_types",
    "show": ".tools.notebook",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tb_attention_plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
