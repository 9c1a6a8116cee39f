"""Reading attention logs: the record-level scan of event files (event_scan.py), the index of a run's
records (run_index.py), local or remote log directories (storage.py), and `read_run` (reader.py,
probe_log.py). lru_cache.py is the bounded cache the readers and the plugin share."""
