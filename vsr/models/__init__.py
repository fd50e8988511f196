"""The IMDN family and its weights."""

from vsr.models.checkpoint import load_weights, save_weights
from vsr.models.factory import ARCHITECTURES, create_model

__all__ = ["ARCHITECTURES", "create_model", "load_weights", "save_weights"]
