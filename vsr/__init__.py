"""vsr: video super-resolution with IMDN."""

__version__ = "0.1.0"
