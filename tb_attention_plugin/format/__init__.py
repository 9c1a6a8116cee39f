"""The on-disk format of attention logs (docs/format.md): the one home of what the writer writes and
every reader checks, so that the writer, `read_run` and the plugin cannot drift apart.

- metadata.py: the format's names and limits, the tags, the JSON plugin metadata and its checks;
- blobs.py: layer blobs (quantized attention, zstd, keyframe or delta) and their delta chains;
- records.py: the codec of each record (snapshots, statistics, relations, predictions, neurons);
- quantize.py: attention weights <-> uint8; event_file.py: TFRecord event files, written and read.

Import-light: numpy, zstandard and TensorBoard's protos are imported where they code.
"""
