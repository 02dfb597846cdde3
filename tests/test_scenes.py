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


# --- captioned images as a run loads them (kerascnn.data.captioned) -------------------------------


def test_scenes_load_as_splits_whose_labels_index_their_captions():
    from kerascnn.data.captioned import load_captioned
    from kerascnn.recipes import DataConfig

    config = DataConfig(name="scenes", image_shape=(24, 24, 3), train_limit=30, test_limit=10)
    splits = load_captioned(config)
    assert (splits.info.num_train, splits.info.num_test) == (30, 10)
    assert splits.info.image_shape == (24, 24, 3)
    images, references = make_scenes(10, seed=2, size=24)  # the fixed test scenes
    for (image, index), expected_image, expected in zip(
        splits.test.as_numpy_iterator(), images, references, strict=True
    ):
        np.testing.assert_array_equal(image, expected_image)
        assert splits.captions["test"][index] == expected
    holdout = load_captioned(DataConfig(name="scenes", train_limit=30, validation="holdout"))
    indices = [int(i) for _, i in holdout.validation.as_numpy_iterator()]
    assert (
        indices == list(range(27, 30))
        and holdout.captions["validation"] is holdout.captions["train"]
    )


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "scenes", "image_shape": (24, 24, 1)}, "scenes are RGB"),
        ({"name": "scenes", "classes": (0, 1)}, "captioned images have none"),
        ({"name": "mnist"}, "captioning needs captioned images"),
        ({"name": "coco_captions"}, "tfds coco_captions is not prepared"),
    ],
)
def test_captioned_data_that_cannot_be_loaded_is_named(config, message, tmp_path):
    from kerascnn.data.captioned import load_captioned
    from kerascnn.errors import DataError
    from kerascnn.recipes import DataConfig

    with pytest.raises(DataError, match=message):
        load_captioned(DataConfig(**config, tfds_data_dir=str(tmp_path)))


def test_prepared_coco_captions_load_with_every_reference(monkeypatch):
    """tfds' own mock stands in for the 37.6 GiB download, which cannot happen here."""
    import tensorflow_datasets as tfds

    from kerascnn.data.captioned import load_captioned
    from kerascnn.recipes import DataConfig

    config = DataConfig(name="coco_captions", image_shape=(24, 24, 3), train_limit=5, test_limit=3)
    with tfds.testing.mock_data(num_examples=8):
        builder_class = type(tfds.builder("coco_captions"))
        monkeypatch.setattr(builder_class, "is_prepared", lambda self: True)
        splits = load_captioned(config)
    assert (splits.info.num_train, splits.info.num_test) == (5, 3)
    assert splits.info.image_shape == (24, 24, 3) and "tfds coco_captions" in splits.info.source
    assert all(isinstance(c, str) for group in splits.captions["test"] for c in group)
    assert [len(splits.captions[s]) for s in ("train", "test")] == [5, 3]
