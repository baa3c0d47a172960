"""Family tests: each model family's nets, visualisations and training steps, on tiny tensors."""
