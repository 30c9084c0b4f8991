"""Front ends other than the YAML spec: a PyTorch ``nn.Module`` captured into the same layer graph.

Importing this package is cheap; torch is imported inside the functions that need it.
"""
