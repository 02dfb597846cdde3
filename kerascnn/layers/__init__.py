"""Custom layers, one per file, each registered as serializable."""

from kerascnn.layers.classic_dropout import ClassicDropout
from kerascnn.layers.composed_affine import ComposedAffine
from kerascnn.layers.drop_connect import DropConnect
from kerascnn.layers.to_pixels import ToPixels

__all__ = ["ClassicDropout", "ComposedAffine", "DropConnect", "ToPixels"]
