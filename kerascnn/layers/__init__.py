"""Custom layers, one per file, each registered as serializable."""

from kerascnn.layers.classic_dropout import ClassicDropout

__all__ = ["ClassicDropout"]
