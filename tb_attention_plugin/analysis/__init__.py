"""What is computed from attention (numpy only): per-head statistics (statistics.py), head types
(head_types.py), labelled relations' measures (relations.py) and the neuron view's arithmetic
(neuron_math.py). Used by the writer, `read_run` and the plugin alike."""
