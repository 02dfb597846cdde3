"""The class-conditional DCGAN: counts at the reference configuration, images that depend on the
label, class fidelity that rises with training, the export (noise, labels) -> uint8, the recipe
end to end and `kerascnn sample --label`. The training machinery it shares with the DCGAN (loss
scaling, averaging, checkpoints, resuming) is tested for both in test_dcgan.py, 1-vs-2 replicas in
test_distribute.py."""

from itertools import pairwise

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerascnn
from kerascnn.errors import KerasCNNError
from kerascnn.models.cdcgan import ConditionalDCGAN, cdcgan, cdcgan_discriminator, cdcgan_generator
from kerascnn.models.dcgan import class_cycle, generate_pixels, pixel_generator
from kerascnn.registry import models


def trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def conv(inputs, filters, kernel):
    return kernel * kernel * inputs * filters  # no bias: BatchNorm follows, or none


def test_parameter_counts_at_the_reference_configuration():
    # MNIST padded to 32x32x1, 10 classes, latent 100, 64 base filters, 4x4 kernels: the recipe's.
    classes, latent, maps, side = 10, 100, [256, 128, 64], 4
    norms = sum(2 * m for m in maps)  # BatchNorm's scale and offset
    generator = classes * classes  # the label embedding, one value per class
    generator += conv(latent + classes, maps[0], side) + norms  # 1x1 code -> 4x4x256
    generator += sum(conv(a, b, 4) for a, b in pairwise(maps)) + conv(maps[-1], 1, 4)
    widths = maps[::-1]  # 64, 128, 256; no BatchNorm on the input block
    body = conv(1, widths[0], 4) + sum(conv(a, b, 4) for a, b in pairwise(widths))
    body += sum(2 * w for w in widths[1:]) + conv(widths[-1], 1, side)
    projection = body + classes * widths[-1]  # one vector per class, as wide as the last map
    auxiliary = body + conv(widths[-1], classes, side)  # a class head beside the logit's
    shape = (32, 32, 1)
    assert trainable(cdcgan_generator(image_shape=shape)) == generator
    assert trainable(cdcgan_discriminator(input_shape=shape)) == auxiliary  # the default
    assert (
        trainable(cdcgan_discriminator(input_shape=shape, conditioning="projection")) == projection
    )
    assert (generator, projection, auxiliary) == (1_107_940, 663_808, 702_208)  # the docstrings'


def test_registered_as_gan_parts_and_a_conditional_gan():
    assert models.metadata("cdcgan_generator")["task"] == "gan_generator"
    assert models.metadata("cdcgan_discriminator")["task"] == "gan_discriminator"
    assert models.metadata("cdcgan") == {"task": "gan", "conditional": True}
    assert "cdcgan" in kerascnn.list_models("gan")


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    gan = cdcgan(image_shape=(16, 16, 1), latent_dim=8, classes=4, base_filters=4, seed=0,
                 conditioning="projection")  # fmt: skip
    gan.compile(*(keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in "dg"))
    return gan


def test_images_depend_on_the_label(tiny):
    noise = np.repeat(np.random.default_rng(0).normal(size=(1, 8)), 4, axis=0).astype(np.float32)
    images = np.asarray(tiny.generator([noise, np.arange(4)], training=False))
    assert np.abs(images[0] - images[0:1]).max() == 0  # the same noise and label: the same image
    scale = np.abs(images).mean()  # small at initialisation: weights from N(0, 0.02)
    for a, b in pairwise(range(4)):  # the same noise, another label: another image
        assert np.abs(images[a] - images[b]).mean() > 0.01 * scale, (a, b)
    # The projection discriminator's logit depends on the label it is given, too.
    from test_dcgan import real_images

    real = real_images(4) / 127.5 - 1
    judged = np.asarray(tiny.discriminator([real, np.arange(4)], training=False))
    rejudged = np.asarray(tiny.discriminator([real, np.arange(4)[::-1]], training=False))
    assert np.abs(judged - rejudged).min() > 0.01 * np.abs(judged).mean()


def test_the_auxiliary_discriminator_judges_images_alone_with_a_class_head():
    discriminator = cdcgan_discriminator(input_shape=(16, 16, 1), classes=4, base_filters=4,
                                         conditioning="auxiliary")  # fmt: skip
    assert [tuple(i.shape) for i in discriminator.inputs] == [(None, 16, 16, 1)]
    assert [tuple(o.shape) for o in discriminator.outputs] == [(None, 1), (None, 4)]
    assert [o.dtype for o in discriminator.outputs] == ["float32", "float32"]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: cdcgan_discriminator(conditioning="both"), "conditioning must be one of"),
        (lambda: cdcgan_generator(classes=0), "classes must be a positive integer, got 0"),
        (lambda: cdcgan_generator(embedding_dim=2.5), "embedding_dim must be a positive"),
        (
            lambda: ConditionalDCGAN(
                kerascnn.models.dcgan.dcgan_generator(image_shape=(16, 16, 1)),
                cdcgan_discriminator(input_shape=(16, 16, 1)),
            ),
            "takes no labels",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(build, message):
    with pytest.raises(KerasCNNError, match=message):
        build()


def test_fit_without_labels_is_a_clear_error(tiny):
    with pytest.raises(KerasCNNError, match="trains on \\(images, labels\\) batches"):
        tiny.fit(np.zeros((8, 16, 16, 1), np.float32), batch_size=8, verbose=0)


def test_class_fidelity_by_hand():
    from kerascnn.quality import class_fidelity

    probabilities = np.eye(3)[[0, 0, 1, 2, 2, 1]]  # what the classifier saw
    labels = np.array([0, 1, 1, 2, 2, 2])  # what was asked for
    np.testing.assert_allclose(class_fidelity(probabilities, labels), [1, 0.5, 2 / 3])
    assert np.isnan(class_fidelity(np.eye(3)[[0]], [0])[1:]).all()  # classes not asked for


def quadrant_fidelity(generator, count=400):
    """Class fidelity for `real_batch`'s squares: the brightest quadrant is the class drawn."""
    labels = class_cycle(count, 4)
    images = generate_pixels(generator, count, seed=3, labels=labels)[..., 0]
    quadrants = [images[:, r : r + 8, c : c + 8].mean(axis=(1, 2)) for r in (0, 8) for c in (0, 8)]
    return float(np.mean(np.argmax(quadrants, axis=0) == labels))


# The default, auxiliary, rises sooner: 0.25 -> 1.0 after these 64 steps, projection to 0.42
# (docs/experiments/2026-12-03-cdcgan.md); the projection's run is the slow one.
@pytest.mark.parametrize(
    "conditioning", ["auxiliary", pytest.param("projection", marks=pytest.mark.slow)]
)
def test_class_fidelity_rises_above_chance_in_a_short_run(conditioning):
    from test_dcgan import real_batch

    keras.utils.set_random_seed(0)
    gan = cdcgan(image_shape=(16, 16, 1), latent_dim=8, classes=4, base_filters=8, seed=0,
                 conditioning=conditioning)  # fmt: skip
    gan.compile(*(keras.optimizers.Adam(2e-3, beta_1=0.5) for _ in "dg"))
    before = quadrant_fidelity(gan.generator)
    gan.fit(*real_batch(256), batch_size=32, epochs=8, verbose=0)
    after = quadrant_fidelity(gan.generator)
    assert before < 0.35 and after > 0.4, (before, after)  # chance: 0.25


def test_export_reloads_and_serves_the_same_images_for_the_same_noise_and_labels(tiny, tmp_path):
    from kerascnn.export import export_model

    noise = np.random.default_rng(1).normal(size=(8, 8)).astype(np.float32)
    labels = class_cycle(8, 4)
    served_model = pixel_generator(tiny.generator)
    path = export_model(served_model, tmp_path, "c", sample=[noise, labels])
    reloaded = tf.saved_model.load(str(path))
    specs = reloaded.serve.input_signature
    assert [(s.name, s.dtype, tuple(s.shape)) for s in specs] == [
        ("noise", tf.float32, (None, 8)),
        ("labels", tf.int32, (None,)),
    ]
    served = reloaded.serve(tf.constant(noise), tf.constant(labels)).numpy()
    assert served.dtype == np.uint8 and served.shape == (8, 16, 16, 1)
    np.testing.assert_array_equal(served, served_model.predict([noise, labels], verbose=0))
    other = reloaded.serve(tf.constant(noise), tf.constant((labels + 1) % 4)).numpy()
    assert (other != served).any()


# --- the cdcgan recipe end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    from kerascnn import recipes

    root = tmp_path_factory.mktemp("cdcgan")
    return recipes.run(
        "cdcgan",
        smoke=True,
        verbose=0,
        epochs=1,
        runs_dir=str(root / "runs"),
        export={"directory": str(root / "saved_models")},
        **{"model.args": {"base_filters": 8}},
    )


def test_recipe_scores_class_fidelity_and_draws_a_row_per_class(cgan_run):
    from matplotlib.image import imread
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history, metrics = cgan_run.history, cgan_run.metrics
    assert {"inception_score", "class_fidelity", "min_class_fidelity"} <= set(history)
    assert 0 <= metrics["min_class_fidelity"] <= metrics["class_fidelity"] <= 1
    assert "class fidelity" in cgan_run.headline
    # The smoke grid of 16 images: 10 rows (one per class) of 2, the same noise in each row.
    (grid,) = (cgan_run.run_dir / "samples").iterdir()
    height, width = imread(grid).shape[:2]
    assert width == 260 and height > 10 * 145  # 2 columns of 1.3 in; 10 rows of 1.45 in + titles
    images = EventAccumulator(str(cgan_run.run_dir / "tensorboard" / "images")).Reload()
    assert [event.step for event in images.Tensors("samples")] == [0]


def test_a_finished_run_samples_the_generator_it_exported(cgan_run):
    from kerascnn.tools.sample import sample_images

    for label in (None, 7, "all"):
        run = sample_images(cgan_run.run_dir, 6, seed=5, label=label)
        np.testing.assert_array_equal(
            run, sample_images(cgan_run.export_dir, 6, seed=5, label=label)
        )
    noise_only = sample_images(cgan_run.export_dir, 3, seed=5, label=7)
    assert not np.array_equal(noise_only, sample_images(cgan_run.export_dir, 3, seed=5, label=1))


@pytest.mark.parametrize(
    "arguments, rows, columns",
    [
        (["--label", "7", "--n", "16"], 2, 8),  # 16 sevens in rows of 8
        (["--label", "all", "--n", "3"], 10, 3),  # a row of 3 per class
    ],
)
def test_sample_command_draws_a_label_or_a_row_per_class(
    cgan_run, tmp_path, capfd, arguments, rows, columns
):
    from matplotlib.image import imread

    from kerascnn.cli import main

    out = tmp_path / "grid.png"
    assert main(["sample", str(cgan_run.export_dir), *arguments, "--out", str(out)]) == 0
    assert f"samples: {out}" in capfd.readouterr().out
    height, width = imread(out).shape[:2]
    # Each image 1.3 x 1.45 in at 100 dpi, and a title (each row's class titled too).
    assert width == 130 * columns and 145 * rows < height < 145 * rows + 300


@pytest.mark.parametrize(
    "label, message",
    [
        ("10", "--label must be a class from 0 to 9 or 'all', got '10'"),
        ("-1", "--label must be a class from 0 to 9 or 'all', got '-1'"),
        ("seven", "--label must be a class from 0 to 9 or 'all', got 'seven'"),
        ("2.5", "--label must be a class from 0 to 9 or 'all', got '2.5'"),
    ],
)
@pytest.mark.parametrize("source", ["export", "run"])
def test_sample_command_rejects_bad_labels_in_one_line(
    cgan_run, tmp_path, monkeypatch, capfd, label, message, source
):
    from kerascnn.cli import main

    path = cgan_run.export_dir if source == "export" else cgan_run.run_dir
    monkeypatch.chdir(tmp_path)
    assert main(["sample", str(path), "--label", label, "--out", "x.png"]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not list(tmp_path.glob("x.*"))


def test_a_label_for_an_unconditional_gan_is_a_one_line_error(tmp_path, capfd):
    from kerascnn.cli import main
    from kerascnn.export import export_model
    from kerascnn.models.dcgan import dcgan_generator

    generator = pixel_generator(
        dcgan_generator(image_shape=(16, 16, 1), latent_dim=8, base_filters=4)
    )
    noise = np.zeros((2, 8), np.float32)
    path = export_model(generator, tmp_path, "dcgan", sample=noise)
    assert main(["sample", str(path), "--label", "3", "--out", str(tmp_path / "x.png")]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--label 3 needs a conditional GAN" in lines[0], lines


@pytest.mark.slow  # the script scores two runs
def test_score_script_scores_class_by_class_and_puts_runs_side_by_side(
    cgan_run, monkeypatch, capfd
):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "score_gan.py"
    score_main = runpy.run_path(str(script), run_name="score_gan")["main"]
    run = str(cgan_run.run_dir)
    monkeypatch.setattr(sys, "argv", [str(script), run, run])
    assert score_main() == 0
    out = capfd.readouterr().out
    scored = [line for line in out.splitlines() if "inception score" in line]
    assert len(scored) == 6 and all("class fidelity" in line for line in scored), scored
    classes = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in classes if len(row) == 3] == [str(c) for c in range(10)] * 2
    table = out.split("final generators")[1].splitlines()[2:]
    assert [row.split()[0] for row in table] == ["cdcgan", "cdcgan"]
