"""The browser tests' logs come from the shared generator, `tb_attention_plugin/devtools/synthetic.py` (also used
by the plugin tests, the benchmarks and `frontend/dev/serve.py`); this module keeps the names the
browser tests import."""

from tb_attention_plugin.devtools.synthetic import (  # noqa: F401 - re-exported for the tests
    XSS_TOKEN,
    SyntheticHeads,
    repeated_tokens,
    write_encoder_decoder_run,
    write_run,
)
