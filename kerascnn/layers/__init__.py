"""Custom layers, one per file, each registered as serializable."""

from kerascnn.layers.class_map import ClassMap
from kerascnn.layers.classic_dropout import ClassicDropout
from kerascnn.layers.composed_affine import ComposedAffine
from kerascnn.layers.drop_connect import DropConnect
from kerascnn.layers.to_pixels import ToPixels

__all__ = ["ClassMap", "ClassicDropout", "ComposedAffine", "DropConnect", "ToPixels"]
