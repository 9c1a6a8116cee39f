"""The Attention tab's backend in TensorBoard: the entry point (entry.py, always safe to import), the
routes (routes.py), what they read (data.py: the runs' own event files, files.py, or TensorBoard's
data provider, provider/), their answers (answers.py, http_payload.py, errors.py), the run's scalars
(scalars.py) and the tab's static files (static.py)."""
