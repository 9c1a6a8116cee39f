"""The fallback through TensorBoard's data provider, for log directories the plugin cannot read
itself (server/data.py decides): the listing of tags and blob references (series.py), the snapshots
(snapshot.py, with the read-ahead of prefetch.py), the statistics (stats.py), tied together by
ProviderData (data.py)."""
