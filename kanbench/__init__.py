"""kanbench: scaling laws and costs of Kolmogorov-Arnold Networks against matched MLPs."""

__version__ = "0.1.0"
