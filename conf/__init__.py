"""Hydra configs of kanbench, importable as kanbench.conf so that installs find them."""
