"""The synthetic captioned scenes: deterministic from a seed, and every caption true of its image."""

import numpy as np
import pytest

from kerascnn.data.scenes import COLOURS, describe, make_scenes, render


def test_the_same_seed_gives_the_same_scenes_and_another_seed_others():
    images, captions = make_scenes(50, seed=3)
    again_images, again_captions = make_scenes(50, seed=3)
    np.testing.assert_array_equal(images, again_images)
    assert captions == again_captions
    other_images, other_captions = make_scenes(50, seed=4)
    assert not np.array_equal(images, other_images) and captions != other_captions
    assert images.shape == (50, 64, 64, 3) and images.dtype == np.uint8


def test_every_caption_names_colours_that_are_in_the_image():
    images, captions = make_scenes(200, seed=0)
    for image, references in zip(images, captions, strict=True):
        assert len(references) >= 3 and len(set(references)) == len(references)
        pixels = {tuple(p) for p in image.reshape(-1, 3)}
        for reference in references:
            named = {word for word in reference.split() if word in COLOURS}
            assert named and all(COLOURS[c] in pixels for c in named), reference


@pytest.mark.parametrize(
    "second,forward,backward",
    [
        ({"x": 0.5, "y": 0.85}, "above", "below"),
        ({"x": 0.85, "y": 0.5}, "to the left of", "to the right of"),
    ],
)
def test_two_shapes_are_related_both_ways(second, forward, backward):
    first = {"kind": "circle", "colour": "red", "size": "large", "x": 0.5, "y": 0.5}
    other = {"kind": "square", "colour": "blue", "size": "small", **second}
    captions = describe([first, other])
    assert f"a large red circle {forward} a small blue square" in captions
    assert f"a small blue square {backward} a large red circle" in captions
    assert f"a red circle {forward} a blue square" in captions
    image = render([first, other], 64)
    assert tuple(image[32, 32]) == COLOURS["red"]  # the circle's centre


def test_three_shapes_are_listed_left_to_right():
    _, captions = make_scenes(300, seed=1)
    triples = [c for c in captions if c[1].startswith("three shapes")]
    assert triples and all(c[2] == c[0] + " from left to right" for c in triples)
