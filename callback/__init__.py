"""The Trainer side of tb-attention (installed as tb_attention_plugin.callback; imports torch)."""

from .attention_callback import AttentionCallback
from .capture.model_checks import AttentionUnavailableError
from .recorder import AttentionRecorder

__all__ = ["AttentionCallback", "AttentionRecorder", "AttentionUnavailableError"]
