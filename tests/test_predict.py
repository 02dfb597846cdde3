"""`kerascnn predict` and `kerascnn.predict`: a small classifier trained on the bundled MNIST
sample (padded to 32x32 RGB, so the run records an adaptation) classifies digit images the test
writes, from its run, its export and a `.keras` file; bad input is one line."""

import json
import re
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerascnn
from kerascnn import class_names, recipes, runs
from kerascnn.cli import main
from kerascnn.data.idx import find_split_files, read_split
from kerascnn.data.sources import BUNDLED_DIR
from kerascnn.errors import KerasCNNError
from kerascnn.models import create_model
from kerascnn.models.pixels import taking_pixels
from kerascnn.tools.predict import adapt, format_predictions, load_classifier, predict

DIGITS = [str(d) for d in range(10)]
PER_CLASS = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """LeNet-5 trained one epoch on 2,000 images of the sample (~85 % test accuracy), exported."""
    folder = tmp_path_factory.mktemp("predict")
    return recipes.run(
        "lenet5",
        smoke=True,
        verbose=0,
        runs_dir=str(folder / "runs"),
        export={"directory": str(folder / "saved_models")},
        data={"name": "mnist_sample", "image_shape": (32, 32, 3), "train_limit": 2000},
        optimizer={"learning_rate": 3e-3},
        callbacks={"tensorboard": False},
    )


@pytest.fixture(scope="module")
def classifier(trained):
    """The run's classifier, loaded once for the tests that are not about loading."""
    return load_classifier(trained.run_dir)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(PNG paths, labels, images): the first PER_CLASS test images of each digit, 28x28 grey."""
    folder = tmp_path_factory.mktemp("digits")
    images, labels = read_split(*find_split_files(BUNDLED_DIR)["test"])
    chosen = [i for d in range(10) for i in np.flatnonzero(labels == d)[:PER_CLASS]]
    paths = []
    for index in chosen:
        path = folder / f"digit_{labels[index]}_{index}.png"
        tf.io.write_file(str(path), tf.io.encode_png(images[index]))
        paths.append(path)
    return paths, labels[chosen], images[chosen]


def test_the_run_records_its_data_and_adaptation(trained):
    data = runs.load_trained(trained.run_dir).data
    assert data["class_names"] == DIGITS
    assert data["source_shape"] == [28, 28, 1] and data["image_shape"] == [32, 32, 3]
    assert json.loads((trained.run_dir / runs.DATA).read_text())["class_names"] == DIGITS


def test_digits_of_each_class_are_classified_mostly_right(trained, digits):
    paths, labels, _ = digits
    predictions = kerascnn.predict(trained.run_dir, paths, top=3)
    assert [p.image for p in predictions] == [str(path) for path in paths]
    right = sum(p.label == str(label) for p, label in zip(predictions, labels, strict=True))
    assert right >= 0.7 * len(paths), [p.label for p in predictions]
    for prediction in predictions:
        assert prediction.adaptation == "padded 28x28 to 32x32, 1 -> 3 channels"
        assert prediction.probabilities.shape == (10,)
        assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        scores = [score.probability for score in prediction.top]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(prediction.probabilities.max())
        assert [s.name for s in prediction.top] == [str(s.index) for s in prediction.top]


def test_the_text_shows_top_k_per_image(trained, classifier, digits, capsys):
    paths = [str(p) for p in digits[0][:2]]
    assert main(["predict", str(trained.run_dir), *paths, "--top", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * (1 + 4)
    assert lines[0] == f"{paths[0]}  (padded 28x28 to 32x32, 1 -> 3 channels)"
    assert lines[5].startswith(paths[1])
    expected = predict(classifier, paths, top=4)
    assert lines == format_predictions(expected).splitlines()
    for line, score in zip(lines[1:5], expected[0].top, strict=True):
        name, percent, unit = line.split()
        assert (name, unit) == (score.name, "%")
        assert float(percent) == pytest.approx(100 * score.probability, abs=0.006)


def test_json_lists_every_image_with_its_top_classes(trained, classifier, digits, capsys):
    paths = [str(p) for p in digits[0][::PER_CLASS]]
    assert main(["predict", str(trained.run_dir), *paths, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = predict(classifier, paths)
    assert [item["image"] for item in shown] == paths
    for item, prediction in zip(shown, expected, strict=True):
        assert len(item["top"]) == 5  # the default --top
        assert [t["name"] for t in item["top"]] == [s.name for s in prediction.top]
        assert [t["index"] for t in item["top"]] == [s.index for s in prediction.top]
        probabilities = [t["probability"] for t in item["top"]]
        assert probabilities == pytest.approx([s.probability for s in prediction.top])
        assert item["adaptation"] == "padded 28x28 to 32x32, 1 -> 3 channels"


def test_the_export_and_its_keras_file_predict_what_the_run_does(trained, classifier, digits):
    paths = digits[0][:5]
    from_run = predict(classifier, paths)
    for source in (trained.export_dir, trained.export_dir / runs.EXPORTED_MODEL):
        again = kerascnn.predict(source, paths)
        for a, b in zip(from_run, again, strict=True):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
            assert a.top == b.top
            assert a.adaptation == b.adaptation


def test_a_keras_file_of_a_run_is_described_by_the_run(trained, tmp_path):
    """A run's or export's own `.keras` file, given by path, has its run's records."""
    for path in (
        trained.run_dir / runs.FINAL_MODEL,
        trained.run_dir / runs.CHECKPOINT / "model.keras",
        trained.export_dir / runs.EXPORTED_MODEL,
    ):
        loaded = runs.load_trained(path)
        assert loaded.recipe is not None and loaded.recipe.name == "lenet5", path
        assert loaded.data["source_shape"] == [28, 28, 1], path
    moved = runs.load_trained(shutil.copy(trained.run_dir / runs.FINAL_MODEL, tmp_path))
    assert moved.recipe is None and moved.data == {}


def test_a_jpeg_and_a_large_colour_image_are_adapted_as_the_training_data_was(
    classifier, digits, tmp_path
):
    paths, _, images = digits
    original = images[PER_CLASS * 3]  # a 3
    # A large colour photo of the digit: resized to the dataset's 28x28 grey, then padded to
    # 32x32 and repeated to RGB as the training images were; not stretched over the 32x32 frame.
    large = tf.image.resize(tf.image.grayscale_to_rgb(tf.constant(original)), (280, 280))
    large = tf.cast(tf.round(large), tf.uint8).numpy()
    adapted, how = adapt(large, classifier)
    assert (
        how == "resized 280x280 to 28x28, 3 -> 1 channels; padded 28x28 to 32x32, 1 -> 3 channels"
    )
    assert adapted.shape == (32, 32, 3) and adapted.dtype == np.uint8
    assert not adapted[:2].any() and not adapted[-2:].any()
    assert not adapted[:, :2].any() and not adapted[:, -2:].any()
    assert (adapted[..., 0] == adapted[..., 1]).all() and (adapted[..., 1] == adapted[..., 2]).all()
    inner = adapted[2:-2, 2:-2, 0].astype(int)
    # 28 -> 280 -> 28 blurs a little but keeps the digit in place.
    assert np.corrcoef(inner.ravel(), original.ravel())[0, 1] > 0.95
    jpeg, png = tmp_path / "large.jpg", paths[PER_CLASS * 3]
    tf.io.write_file(str(jpeg), tf.io.encode_jpeg(large, quality=95))
    from_png, from_jpeg = predict(classifier, [png, jpeg])
    assert from_jpeg.adaptation == how
    assert from_jpeg.label == from_png.label
    assert np.abs(from_jpeg.probabilities - from_png.probabilities).max() < 0.15


def test_arrays_and_files_give_the_same_prediction(classifier, digits):
    paths, _, images = digits
    from_files = predict(classifier, paths[:4])
    batch = predict(classifier, images[:4])  # (n, 28, 28, 1) uint8: one image each
    listed = predict(classifier, [images[0][..., 0], images[1].astype(np.float32)])
    assert [p.image for p in batch] == [f"array {i}" for i in range(4)]
    # The same pixels (PNG is lossless); batches of other sizes may differ in the last bits.
    for a, b in zip(from_files, batch, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)
    for a, b in zip(from_files[:2], listed, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-7)


def test_an_alpha_channel_is_dropped(classifier, digits, tmp_path):
    _, _, images = digits
    rgba = np.concatenate(
        [np.repeat(images[0], 3, axis=-1), np.full((28, 28, 1), 255, np.uint8)], -1
    )
    path = tmp_path / "rgba.png"
    tf.io.write_file(str(path), tf.io.encode_png(rgba))
    (from_rgba,), (from_grey,) = predict(classifier, path), predict(classifier, images[0])
    np.testing.assert_allclose(from_rgba.probabilities, from_grey.probabilities, atol=1e-6)


def test_names_and_adaptation_come_from_the_run_also_before_it_finishes(trained, digits, tmp_path):
    """A run stopped before its end has only its checkpoint and data.json; the names in its
    records are what predict shows (here renamed, to see where they come from)."""
    run_dir = tmp_path / "unfinished"
    shutil.copytree(trained.run_dir, run_dir)
    (run_dir / runs.METRICS).unlink()
    (run_dir / runs.FINAL_MODEL).unlink()
    record = json.loads((run_dir / runs.DATA).read_text())
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    runs.write_data(run_dir, {**record, "class_names": words})
    (prediction,) = kerascnn.predict(run_dir, digits[0][:1], top=10)
    assert sorted(score.name for score in prediction.top) == sorted(words)
    assert all(score.name == words[score.index] for score in prediction.top)
    assert prediction.adaptation == "padded 28x28 to 32x32, 1 -> 3 channels"


def test_a_keras_file_without_records_is_named_by_number_or_as_imagenet(tmp_path, monkeypatch):
    """A builder's bare network (input [0, 1], logits out) saved on its own: the scaling and a
    softmax are put around it; 1,000 classes take ImageNet's names where the package has them."""
    network = create_model(
        "lenet5", input_shape=(32, 32, 3), classes=1000, classifier_activation=None
    )
    path = tmp_path / "bare.keras"
    network.save(path)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    names = [f"class {i}" for i in range(1000)]
    listing = tmp_path / "names.json"
    listing.write_text(json.dumps(names))
    monkeypatch.setattr(class_names, "IMAGENET_NAMES_FILE", listing)
    (prediction,) = predict(path, image, top=3)
    logits = network.predict(image[None].astype(np.float32) / 255, verbose=0)[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-4, atol=1e-7)
    assert [s.name for s in prediction.top] == [names[s.index] for s in prediction.top]
    assert prediction.adaptation == ""
    monkeypatch.setattr(class_names, "IMAGENET_NAMES_FILE", tmp_path / "absent.json")
    assert class_names.for_outputs(1000)[:3] == ("0", "1", "2")
    assert class_names.for_outputs(3, ["a", "b", "c"]) == ("a", "b", "c")
    assert class_names.for_outputs(3, ["a", "b"]) == ("0", "1", "2")


def test_a_pixel_taking_model_with_probabilities_is_used_as_it_is(tmp_path):
    network = create_model("lenet5", input_shape=(32, 32, 1), classes=4)
    model = taking_pixels(network)
    path = tmp_path / "pixels.keras"
    model.save(path)
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 1)).astype(np.uint8)
    (prediction,) = predict(path, image)
    expected = model.predict(image[None].astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5)
    assert len(prediction.top) == 4  # --top 5 of 4 classes


@pytest.fixture(scope="module")
def not_classifiers(tmp_path_factory):
    """A DCGAN (a subclassed model), its generator (noise in) and its discriminator (one logit
    out) as .keras files, and folders with a DCGAN's and a captioner's recipe: no classifier."""
    folder = tmp_path_factory.mktemp("not_classifiers")
    generator = create_model("dcgan_generator", image_shape=(32, 32, 1))
    generator.save(folder / "generator.keras")
    discriminator = create_model("dcgan_discriminator", input_shape=(32, 32, 1))
    discriminator.save(folder / "discriminator.keras")
    gan = create_model("dcgan", image_shape=(32, 32, 1), base_filters=8)
    gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.Adam())
    gan.save(folder / "dcgan.keras")
    gan_run = folder / "runs" / "dcgan" / "1"
    gan_run.mkdir(parents=True)
    runs.write_recipe(gan_run, recipes.get("dcgan"))
    shutil.copy(folder / "generator.keras", gan_run / runs.FINAL_MODEL)
    captioner_run = folder / "runs" / "captioning" / "1"
    captioner_run.mkdir(parents=True)
    runs.write_recipe(captioner_run, recipes.get("captioning"))
    shutil.copy(folder / "generator.keras", captioner_run / runs.FINAL_MODEL)
    return folder


@pytest.mark.parametrize(
    "source, message",
    [
        ("runs/dcgan/1", r"holds a GAN \('dcgan'\), not a classifier"),
        ("runs/captioning/1", r"holds a captioner \('show_and_tell'\), not a classifier"),
        ("generator.keras", "input is not one image of fixed size"),
        ("dcgan.keras", "holds a DCGAN model, not a classifier of images"),
        ("discriminator.keras", r"output has shape \(None, 1\), not class probabilities"),
        ("runs", "holds no trained model"),
        ("nowhere", "holds no trained model"),
    ],
)
def test_what_is_no_classifier_is_one_line(not_classifiers, digits, source, message, capsys):
    image = str(digits[0][0])
    assert main(["predict", str(not_classifiers / source), image]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("kerascnn: error: ")
    assert re.search(message, error), error


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, ["missing.png"], "image file .*missing.png does not exist"),
        (lambda d: (d / "bad.png").write_text("not a picture"), ["bad.png"], "cannot decode image"),
        (None, ["--top", "0", "x.png"], "--top must be a whole number of at least 1, got 0"),
    ],
)
def test_bad_images_and_options_are_one_line(trained, tmp_path, capsys, make, args, message):
    if make:
        make(tmp_path)
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]
    assert main(["predict", str(trained.run_dir), *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert re.search(message, error), error


@pytest.mark.parametrize(
    "images, message",
    [
        ([], "give at least one image"),
        (np.zeros((4, 4, 5)), r"has shape \(4, 4, 5\)"),
        (np.full((4, 4), 300.0), "outside 0-255"),
        (np.full((4, 4), np.nan), "outside 0-255"),
        ([object()], "is not an image"),
    ],
)
def test_bad_arrays_are_refused_before_loading_anything(images, message, tmp_path):
    with pytest.raises(KerasCNNError, match=message):
        predict(tmp_path / "no_model_here", images)


def test_predict_is_a_public_name():
    assert kerascnn.predict is predict
