"""The Attention tab inside a notebook cell (Jupyter, JupyterLab, VS Code, Colab), with no server and
no network: the self-contained report of `tb-attention export` in an iframe (`srcdoc`), so the saved
notebook shows it too.

    import tb_attention_plugin
    tb_attention_plugin.show("logs/run1", probe="cat", step=400)
"""

import html

from . import export

DEFAULT_HEIGHT = 720
# A notebook keeps its outputs: by default fewer snapshots than an export file for a large model
# (uint8 weights before compression; a 12 x 12 head, 128-token probe is 2.4 MB a step)
DEFAULT_MAX_BYTES = 64 << 20


class InlineReport:
    """A run's report as a notebook output: Jupyter's rich display calls `_repr_html_`. `html` is the
    report page itself (what `tb-attention export` writes)."""

    def __init__(self, page, height=DEFAULT_HEIGHT):
        self.html, self.height = page, int(height)

    def _repr_html_(self):
        # the report's own CSP applies inside; the sandbox gives it scripts and its Save buttons, not the
        # notebook's origin
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts allow-downloads" '
            f'style="width: 100%; height: {self.height}px; border: 1px solid #dadce0; border-radius: 4px" '
            f'title="tb-attention report"></iframe>'
        )

    def __repr__(self):
        return f"<tb-attention report, {len(self.html) / 1e6:.1f} MB: display it in a notebook>"


def show(
    run_dir,
    probe=None,
    step=None,
    *,
    steps=None,
    max_steps=export.DEFAULT_MAX_STEPS,
    max_bytes=DEFAULT_MAX_BYTES,
    height=DEFAULT_HEIGHT,
):
    """The Attention tab of one run for a notebook cell (an InlineReport; the cell's last expression).

    probe: show only that probe (default: every probe; the first shown). step: open at that logged step
    (default: the last), which is embedded whatever `steps` says. steps: the snapshots embedded, as for
    `tb-attention export --steps` (a list, or "all"; default: `max_steps` spread over the run, fewer
    when they would exceed `max_bytes` of weights before compression). Statistics and curves come at
    every logged step. The output is as large as the report (a few MB for a BERT-size run): it is saved
    in the notebook.
    """
    probes = None if probe is None else [probe]
    payload = export.collect(run_dir, probes, steps, max_steps, max_bytes)
    if step is not None and step not in payload["steps"]:  # a step that is not logged raises ValueError
        payload = export.collect(run_dir, probes, sorted(set(payload["steps"]) | {step}), max_steps, max_bytes)
    payload["initial"] = {k: v for k, v in (("probe", probe), ("step", step)) if v is not None}
    return InlineReport(export.html(payload, export.bundle()), height)
