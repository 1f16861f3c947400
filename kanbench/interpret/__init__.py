"""Interpreting a KAN (paper §2.5): sparsity regularisation, pruning, symbolic fitting,
network plots, the train -> prune -> symbolic pipeline and its recovery benchmark."""
