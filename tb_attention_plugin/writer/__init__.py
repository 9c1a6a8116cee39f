"""Writing attention logs: AttentionSummaryWriter (summary_writer.py), its checks of what it is given
(input_checks.py), its background write queue (write_queue.py), and what it says about the run
directory it writes to (run_history.py, concurrent_writers.py)."""
