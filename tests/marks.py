"""Shared parametrizations: which cases the 5-minute suite runs and which wait for --runslow."""

import pytest

# The deeper members of a family: the fast suite builds the family's first member (vgg11/vgg16,
# resnet18, inception_v1) with the same block code; these add seconds of graph building each.
DEEPER_MEMBERS = {"vgg13", "vgg19", "resnet34", "resnet50", "inception_v3"}


def first_of_each_family(names):
    """`names` as parameters, the deeper members of a family marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in DEEPER_MEMBERS else n for n in names]
