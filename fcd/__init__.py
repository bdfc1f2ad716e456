"""fcd: a single-node Function Compute daemon."""

__version__ = "0.1.0"
