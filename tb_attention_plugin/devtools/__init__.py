"""Test and development helpers shipped with the package, not part of the product: synthetic attention
logs (synthetic.py, bulk_logs.py) and a TensorBoard subprocess to test the plugin in
(tensorboard_process.py)."""
