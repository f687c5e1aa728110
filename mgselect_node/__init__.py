"""mgselect_node: MG-Select test-time action selection for autoregressive VLA policies."""
