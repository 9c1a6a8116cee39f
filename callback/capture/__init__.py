"""What the probe pass captures from the model (imports torch): the pass itself (probe_pass.py), the
neuron view's query and key vectors (neurons.py, value_norms.py), the predictions (predictions.py),
and the model access they share (model_access.py)."""
