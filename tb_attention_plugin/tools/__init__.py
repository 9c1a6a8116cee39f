"""The command line (`tb-attention`, cli.py) and what it runs: the text summary of a run
(run_summary.py) and the standalone HTML export (export.py, export_views.py)."""
