"""DCGAN: Radford et al.'s layout and counts, and a GAN model that trains (also in mixed precision).

The training machinery (losses, loss scaling, weight averaging, checkpoints, resuming) is the
conditional DCGAN's too: those tests also run on `cdcgan` with either discriminator
(`CONDITIONINGS`; the conditional model's own tests are in test_cdcgan.py)."""

import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.errors import KerasCNNError
from kerascnn.models.cdcgan import cdcgan
from kerascnn.models.dcgan import (
    DCGAN,
    dcgan_discriminator,
    dcgan_generator,
    recalibrate_batch_norm,
)
from kerascnn.registry import models


def trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def conv(inputs, filters, kernel):
    return kernel * kernel * inputs * filters  # no bias: BatchNorm follows, or none (the reference)


def batch_norm(filters):
    return 2 * filters  # trainable scale and offset


@pytest.mark.parametrize(
    "shape, maps, documented",
    [
        # The reference code's 64x64 layout (latent 100, 64 base filters, 4x4 kernels): project
        # to 4x4x512, then 256, 128, 64 and the 3 channels; the discriminator mirrors it.
        ((64, 64, 3), [512, 256, 128, 64], (3_576_704, 2_765_568)),
        # MNIST: two stages from 7x7x128.
        ((28, 28, 1), [128, 64], (759_680, 138_624)),
    ],
)
def test_parameter_counts_from_the_layer_table(shape, maps, documented):
    side, channels = shape[0] // 2 ** len(maps), shape[-1]
    generator = conv(100, maps[0], side) + sum(map(batch_norm, maps))  # 1x1 -> side x side
    generator += sum(conv(a, b, 4) for a, b in pairwise(maps)) + conv(maps[-1], channels, 4)
    widths = maps[::-1]  # the discriminator: no BatchNorm on its input block
    discriminator = conv(channels, widths[0], 4) + sum(map(batch_norm, widths[1:]))
    discriminator += sum(conv(a, b, 4) for a, b in pairwise(widths))
    discriminator += conv(widths[-1], 1, side)  # one convolution over what is left
    assert trainable(dcgan_generator(image_shape=shape)) == generator
    assert trainable(dcgan_discriminator(input_shape=shape)) == discriminator
    assert (generator, discriminator) == documented  # the counts the docstrings quote


def test_registered_as_gan_parts_not_classifiers():
    assert models.metadata("dcgan_generator")["task"] == "gan_generator"
    assert models.metadata("dcgan_discriminator")["task"] == "gan_discriminator"
    assert "dcgan_generator" not in kerascnn.list_models("classification")


@pytest.mark.parametrize(
    "shape, generator_maps",
    [
        ((28, 28, 1), [(7, 7, 128), (14, 14, 64), (28, 28, 1)]),
        ((32, 32, 3), [(4, 4, 256), (8, 8, 128), (16, 16, 64), (32, 32, 3)]),
        ((64, 64, 3), [(4, 4, 512), (8, 8, 256), (16, 16, 128), (32, 32, 64), (64, 64, 3)]),
    ],
)
def test_generator_doubles_and_discriminator_halves(shape, generator_maps):
    generator = dcgan_generator(image_shape=shape)
    maps = [
        tuple(layer.output.shape[1:])
        for layer in generator.layers
        if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert maps == generator_maps
    discriminator = dcgan_discriminator(input_shape=shape)
    convolutions = [
        tuple(layer.output.shape[1:])
        for layer in discriminator.layers
        if isinstance(layer, keras.layers.Conv2D)
    ]
    mirrored = [(h, w, c) for h, w, c in generator_maps[-2::-1]]
    assert [(h, w) for h, w, _ in convolutions[:-1]] == [(h, w) for h, w, _ in mirrored]
    assert convolutions[-1] == (1, 1, 1)
    assert discriminator.output_shape == (None, 1)


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_layout_follows_radford():
    generator, discriminator = dcgan_generator(), dcgan_discriminator()
    for model in (generator, discriminator):
        kinds = set(_kinds(model))
        assert not kinds & {"Dense", "MaxPooling2D", "AveragePooling2D"}, kinds
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                assert not layer.use_bias
                assert layer.kernel_initializer.stddev == pytest.approx(0.02)
                assert layer.kernel_initializer.mean == 0
    # BatchNorm after every generator convolution but the output, then ReLU; tanh output.
    g = _kinds(generator)
    assert g.count("Conv2DTranspose") == 5 and g.count("BatchNormalization") == 4
    assert g.count("ReLU") == 4 and g[-2:] == ["Conv2DTranspose", "Activation"]
    assert generator.layers[-1].activation.__name__ == "tanh"
    # No BatchNorm on the discriminator's input block; LeakyReLU 0.2 after every hidden convolution.
    d = _kinds(discriminator)
    assert d[1:3] == ["Conv2D", "LeakyReLU"] and d.count("BatchNormalization") == 3
    slopes = [
        layer.negative_slope
        for layer in discriminator.layers
        if isinstance(layer, keras.layers.LeakyReLU)
    ]
    assert len(slopes) == 4 and slopes == pytest.approx([0.2] * 4)


def test_generated_images_are_in_minus_one_to_one():
    generator = dcgan_generator(image_shape=(28, 28, 1), base_filters=8)
    images = generator.predict(np.random.default_rng(0).normal(size=(16, 100)) * 10, verbose=0)
    assert images.shape == (16, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_shape": (28, 32, 1)}, "must be square"),
        ({"image_shape": (9, 9, 1)}, "cannot be halved"),
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"base_filters": 2.5}, "base_filters must be a positive integer"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(KerasCNNError, match=message):
        dcgan_generator(**kwargs)


# None: the DCGAN; else a conditional DCGAN of 4 classes with that discriminator. The machinery
# is shared, so the 5-minute suite runs the DCGAN's case; --runslow the conditional ones too.
PROJECTION = pytest.param("projection", marks=pytest.mark.slow)
AUXILIARY = pytest.param("auxiliary", marks=pytest.mark.slow)
CONDITIONINGS = [None, PROJECTION, AUXILIARY]


def tiny_gan(
    seed=0,
    learning_rate=2e-4,
    label_smoothing=0.0,
    use_ema=False,
    generator_steps=1,
    conditioning=None,
    optimizers=None,
):
    keras.utils.set_random_seed(seed)
    if conditioning is None:
        gan = DCGAN(
            dcgan_generator(image_shape=(16, 16, 1), latent_dim=8, base_filters=4),
            dcgan_discriminator(input_shape=(16, 16, 1), base_filters=4),
            seed=seed,
            generator_steps=generator_steps,
        )
    else:
        gan = cdcgan(
            image_shape=(16, 16, 1),
            latent_dim=8,
            classes=4,
            base_filters=4,
            seed=seed,
            generator_steps=generator_steps,
            conditioning=conditioning,
        )
    gan.compile(
        *(
            optimizers
            or [keras.optimizers.Adam(learning_rate, beta_1=0.5, use_ema=use_ema) for _ in "dg"]
        ),
        label_smoothing=label_smoothing,
    )
    return gan


def real_images(count=64):
    """Bright squares on black, as pixel values: something to tell from noise."""
    return real_batch(count)[0]


def real_batch(count=64):
    """(images, labels): bright squares on black, as pixel values, whose label 0-3 is the quadrant
    they lie in."""
    images = np.zeros((count, 16, 16, 1), np.float32)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, count)
    for image, label in zip(images, labels, strict=True):
        row, column = rng.integers(0, 3, size=2) + 8 * np.array([label // 2, label % 2])
        image[row : row + 6, column : column + 6] = 255
    return images, labels


def data_for(gan, count=64):
    """What `gan.fit` takes: (images,) for a DCGAN, (images, labels) for a conditional one."""
    images, labels = real_batch(count)
    return (images,) if gan.classes is None else (images, labels)


def noise_for(gan, noise):
    """The generator's inputs for `noise`."""
    from kerascnn.models.dcgan import generator_inputs

    return generator_inputs(gan.generator, noise)


@pytest.mark.parametrize("conditioning", [None, AUXILIARY])
def test_training_moves_both_losses_and_stays_finite(conditioning):
    gan = tiny_gan(learning_rate=2e-3, conditioning=conditioning)
    history = gan.fit(*data_for(gan), batch_size=16, epochs=4, verbose=0).history
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history)
    for name in ("d_loss", "g_loss"):
        values = np.asarray(history[name])
        assert np.isfinite(values).all() and abs(values[-1] - values[0]) > 0.01, (name, values)
    assert history["d_real"][-1] > history["d_fake"][-1]  # the discriminator tells them apart
    assert gan.d_optimizer.iterations.numpy() == gan.g_optimizer.iterations.numpy() == 16


def test_several_generator_updates_per_discriminator_update():
    images = real_images(32)
    one, two = tiny_gan(), tiny_gan(generator_steps=2)
    for gan in (one, two):
        gan.fit(images, batch_size=16, epochs=1, verbose=0)
    assert two.d_optimizer.iterations.numpy() == 2 and two.g_optimizer.iterations.numpy() == 4
    # The same first discriminator update, then the generator moves further.
    assert not np.allclose(one.generator.get_weights()[0], two.generator.get_weights()[0])
    assert DCGAN.from_config(two.get_config()).generator_steps == 2
    for bad in (0, 1.5, True):
        with pytest.raises(KerasCNNError, match="generator_steps must be a positive integer"):
            tiny_gan(generator_steps=bad)


def test_one_sided_label_smoothing_lowers_only_the_real_target():
    # BCE(1 - s, z) = BCE(1, z) + s * z: the same first step differs by s times the mean real logit.
    images = real_images(16)
    plain, smoothed = tiny_gan(), tiny_gan(label_smoothing=0.25)
    real_logits = plain.discriminator(plain.rescale(images), training=True)
    expected = plain.train_on_batch(images, return_dict=True)["d_loss"] + 0.25 * float(
        np.mean(real_logits)
    )
    assert smoothed.train_on_batch(images, return_dict=True)["d_loss"] == pytest.approx(
        expected, abs=1e-5
    )
    reloaded = DCGAN.from_config(smoothed.get_config())
    reloaded.compile_from_config(smoothed.get_compile_config())
    assert reloaded.label_smoothing == 0.25
    with pytest.raises(KerasCNNError, match=r"label_smoothing must be in \[0, 1\), got 1"):
        tiny_gan(label_smoothing=1)


@pytest.mark.parametrize("conditioning", [None, PROJECTION])
def test_an_averaged_generator_gets_batch_norm_statistics_of_its_own_weights(conditioning):
    noise = np.random.default_rng(3).normal(size=(4000, 8)).astype(np.float32)

    def gap(generator):  # inference (moving statistics) against a batch normalised by its own
        inputs = noise_for(gan, noise)
        return np.abs(generator(inputs, training=False) - generator(inputs, training=True)).max()

    gan = tiny_gan(learning_rate=2e-3, use_ema=True, conditioning=conditioning)
    keras.Model.fit(gan, *data_for(gan), batch_size=16, epochs=3, verbose=0)  # weights left raw
    gan.g_optimizer.finalize_variable_values(gan.generator.trainable_weights)
    assert gap(gan.generator) > 0.05  # statistics of the raw weights under the averaged ones
    recalibrate_batch_norm(gan.generator, seed=0)
    assert gap(gan.generator) < 0.02

    averaged = tiny_gan(learning_rate=2e-3, use_ema=True, conditioning=conditioning)
    averaged.fit(*data_for(averaged), batch_size=16, epochs=3, verbose=0)  # fit recalibrates
    assert gap(averaged.generator) < 0.02


def test_mixed_precision_wraps_both_optimizers_and_trains_finite():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        gan = tiny_gan()
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert gan.generator.get_layer("project_deconv").compute_dtype == "float16"
        history = gan.fit(*data_for(gan), batch_size=16, epochs=2, verbose=0).history
        assert gan.generator.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert np.isfinite(history["d_loss"]).all() and np.isfinite(history["g_loss"]).all()


def first_step_updates(policy, weights=None, conditioning=None):
    """(each network's trainable weights after one step - before) of a tiny GAN with SGD under
    `policy`, starting from `weights` (the generator's and the discriminator's) if given."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        # SGD: an update proportional to the gradient (Adam's would hide a gradient's scale).
        # Under mixed_float16 a loss scale of 2**8, small enough that no float16 gradient
        # overflows, so the step is never skipped.
        optimizers = [keras.optimizers.SGD(0.05) for _ in "dg"]
        if policy == "mixed_float16":
            optimizers = [
                keras.optimizers.LossScaleOptimizer(o, initial_scale=2**8) for o in optimizers
            ]
        gan = tiny_gan(conditioning=conditioning, optimizers=optimizers)
        if weights is not None:
            gan.generator.set_weights(weights[0])
            gan.discriminator.set_weights(weights[1])
        start = [gan.generator.get_weights(), gan.discriminator.get_weights()]
        nets = (gan.discriminator, gan.generator)
        before = [[np.array(w) for w in net.trainable_weights] for net in nets]
        gan.train_on_batch(*data_for(gan, 16))
        after = [[np.array(w) for w in net.trainable_weights] for net in nets]
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if policy == "mixed_float16":
        scales = [float(o.dynamic_scale) for o in (gan.d_optimizer, gan.g_optimizer)]
        assert scales == [2**8, 2**8]  # no step was skipped
    updates = [
        np.concatenate([(a - b).ravel() for a, b in zip(net_after, net_before, strict=True)])
        for net_after, net_before in zip(after, before, strict=True)
    ]
    return updates, start


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_mixed_precision_updates_match_float32_so_the_loss_scale_is_undone(conditioning):
    # The loss scale multiplies each loss before its gradient (float16 gradients would underflow
    # to 0 otherwise) and LossScaleOptimizer divides the gradients by it: the step equals the
    # float32 step up to float16 rounding. A loss left unscaled would move 2**8 times too little
    # (for the AC-GAN, its class loss is scaled with the rest).
    (d32, g32), start = first_step_updates("float32", conditioning=conditioning)
    (d16, g16), _ = first_step_updates("mixed_float16", start, conditioning=conditioning)
    for mixed, full in ((d16, d32), (g16, g32)):
        assert np.linalg.norm(full) > 1e-4  # the step moved the network
        # float16 rounding: up to 6 % of the conditional GANs' smaller steps; unscaled: ~100 %.
        assert np.linalg.norm(mixed - full) < 0.1 * np.linalg.norm(full)


@pytest.mark.parametrize("conditioning", [None, PROJECTION])
def test_checkpoint_holds_both_nets_and_both_optimizers(tmp_path, conditioning):
    gan = tiny_gan(conditioning=conditioning)
    gan.fit(*data_for(gan, 32), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is type(gan)
    noise = noise_for(gan, np.random.default_rng(2).normal(size=(4, 8)).astype(np.float32))
    np.testing.assert_allclose(reloaded.generator(noise), gan.generator(noise), atol=1e-6)
    for mine, theirs in (
        (gan.d_optimizer, reloaded.d_optimizer),
        (gan.g_optimizer, reloaded.g_optimizer),
    ):
        assert int(theirs.iterations.numpy()) == int(mine.iterations.numpy()) == 2
        for a, b in zip(mine.variables, theirs.variables, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("conditioning", [None, AUXILIARY])
def test_a_run_resumed_from_its_checkpoint_ends_where_an_uninterrupted_one_does(
    tmp_path, conditioning
):
    uninterrupted = tiny_gan(learning_rate=2e-3, conditioning=conditioning)
    data = data_for(uninterrupted, 32)
    uninterrupted.fit(*data, batch_size=16, epochs=2, shuffle=False, verbose=0)

    first = tiny_gan(learning_rate=2e-3, conditioning=conditioning)
    first.fit(*data, batch_size=16, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "last.keras")
    resumed = keras.saving.load_model(tmp_path / "last.keras", safe_mode=True)
    resumed.fit(*data, batch_size=16, epochs=1, shuffle=False, verbose=0)

    assert int(resumed.g_optimizer.iterations.numpy()) == 4
    # Weights, both optimizers' moments and the noise generator's state all came back.
    for mine, theirs in zip(uninterrupted.weights, resumed.weights, strict=True):
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(mine), atol=1e-5)


MIRRORED = r"""
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras
from kerascnn.models.dcgan import DCGAN, dcgan_discriminator, dcgan_generator

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    keras.utils.set_random_seed(0)
    gan = DCGAN(dcgan_generator(image_shape=(16, 16, 1), latent_dim=8, base_filters=4),
                dcgan_discriminator(input_shape=(16, 16, 1), base_filters=4), seed=0)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
images = np.random.default_rng(0).uniform(0, 255, size=(64, 16, 16, 1)).astype("float32")
history = gan.fit(images, batch_size=16, epochs=2, verbose=0).history
first, second = strategy.experimental_local_results(tf.function(lambda: strategy.run(gan.noise, (4,)))())
print(float(np.abs(first - second).max()))
print(strategy.num_replicas_in_sync, history["d_loss"][-1], history["g_loss"][-1])
"""


@pytest.mark.slow  # a fresh process on a split CPU
def test_trains_under_mirrored_strategy_with_unscaled_losses():
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    noise_difference, replicas, d_loss, g_loss = done.stdout.split()[-4:]
    assert replicas == "2"
    assert float(noise_difference) > 0.1  # each replica draws its own noise
    # Per-replica losses are divided by the replica count; the trackers must undo that, so the
    # logged values are the usual ~2 ln 2 and ~ln 2 of an untrained GAN, not half of them.
    assert 1.0 < float(d_loss) < 2.0 and 0.4 < float(g_loss) < 1.2


# --- the quality metric -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_test_images():
    from kerascnn.data import BUNDLED_SAMPLE, batches, load_dataset
    from kerascnn.data.pipeline import take_examples
    from kerascnn.recipes import DataConfig

    test = load_dataset(DataConfig(name=BUNDLED_SAMPLE)).test
    return take_examples(batches(test, batch_size=500), 2000)[0]


@pytest.fixture(scope="module")
def scorer(sample_test_images):
    from kerascnn.quality import DigitScorer

    return DigitScorer(sample_test_images[:1000])


def test_real_digits_score_near_ten_and_noise_scores_low(scorer, sample_test_images):
    real = scorer(sample_test_images[1000:], factors=True)
    assert real["inception_score"] > 9.5  # 10 is the maximum for ten classes
    assert real["classes"] > 9.9 and real["confidence"] > 0.97 and real["ambiguous"] < 0.02
    # Two sets of 1,000 real digits are close, but not at 0 (a finite-sample bias).
    assert real["frechet_distance"] < 10
    noise = np.random.default_rng(0).uniform(0, 255, size=(1000, 28, 28, 1))
    scored = scorer(noise, factors=True)
    assert scored["inception_score"] < 2 and scored["ambiguous"] == 1
    assert scored["frechet_distance"] > 20 * real["frechet_distance"]


def test_inception_score_and_frechet_distance_by_hand():
    from kerascnn.quality import frechet_distance, inception_score, inception_score_factors

    assert inception_score(np.eye(10)) == pytest.approx(10)  # sure of each, all classes alike
    assert inception_score(np.full((10, 10), 0.1)) == pytest.approx(1)  # sure of nothing
    assert inception_score_factors(np.eye(10)) == pytest.approx(
        {"classes": 10, "confidence": 1, "ambiguous": 0}
    )
    assert inception_score_factors(np.eye(10)[[3, 3, 7, 7]]) == pytest.approx(
        {"classes": 2, "confidence": 1, "ambiguous": 0}  # two digits only, each sure
    )
    unsure = np.random.default_rng(0).dirichlet(np.ones(10), size=200)
    kl = np.sum(unsure * (np.log(unsure) - np.log(unsure.mean(axis=0))), axis=1)
    assert inception_score(unsure) == pytest.approx(np.exp(kl.mean()))  # the definition
    factors = inception_score_factors(unsure)
    assert factors["classes"] * factors["confidence"] == pytest.approx(np.exp(kl.mean()))
    assert factors["ambiguous"] == 1
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    # Two Gaussians with identity covariance whose means are 2 apart: distance 4.
    assert frechet_distance(a, rng.normal(size=(5000, 3)) + [2, 0, 0]) == pytest.approx(4, abs=0.2)


def test_the_scorer_wants_grey_images_of_at_least_mnist_size(scorer, sample_test_images):
    with pytest.raises(KerasCNNError, match=r"scores \(n, 28, 28, 1\) images .* got shape"):
        scorer(np.zeros((4, 32, 32, 3)))
    with pytest.raises(KerasCNNError, match="got shape"):
        scorer(np.zeros((4, 16, 16, 1)))
    # MNIST padded to 32x32 (as LeNet-5 and a 3-stage DCGAN see it) scores as the 28x28 digits.
    images = sample_test_images[:200]
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    assert scorer(padded) == pytest.approx(scorer(images))


# --- the dcgan recipe end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from kerascnn import recipes

    root = tmp_path_factory.mktemp("dcgan")
    return recipes.run(
        "dcgan",
        smoke=True,
        verbose=0,
        epochs=2,
        runs_dir=str(root / "runs"),
        export={"directory": str(root / "saved_models")},
        **{"model.args": {"base_filters": 8}},
    )


def test_recipe_trains_scores_and_logs_samples(gan_run):
    history, metrics = gan_run.history, gan_run.metrics
    assert {"d_loss", "g_loss", "inception_score", "frechet_distance"} <= set(history)
    assert len(history["d_loss"]) == 2 and np.isfinite(history["g_loss"]).all()
    assert metrics["task"] == "gan"
    grids = sorted(p.name for p in (gan_run.run_dir / "samples").iterdir())
    assert grids == ["epoch_001.png", "epoch_002.png"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images = EventAccumulator(str(gan_run.run_dir / "tensorboard" / "images")).Reload()
    assert "samples" in images.Tags()["tensors"]  # TF2 writes images as tensor summaries
    assert [event.step for event in images.Tensors("samples")] == [0, 1]
    train = EventAccumulator(str(gan_run.run_dir / "tensorboard" / "train")).Reload()
    scalars = set(train.Tags()["tensors"]) | set(train.Tags()["scalars"])
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_inception_score"} <= scalars


def test_the_recorded_scores_are_those_of_the_trained_generator_against_the_test_images(gan_run):
    from kerascnn.data import batches, load_dataset
    from kerascnn.models.dcgan import generate_pixels
    from kerascnn.training.tasks import GanTask

    recipe, metrics = gan_run.recipe, gan_run.metrics
    data = load_dataset(recipe.data)
    scorer = GanTask().prepare(recipe, data, batches(data.test, batch_size=recipe.batch_size))
    count = recipe.callbacks.quality_examples
    generated = scorer(generate_pixels(gan_run.model.generator, count, seed=recipe.seed))
    assert metrics["inception_score"] == pytest.approx(generated["inception_score"], rel=1e-6)
    assert metrics["frechet_distance"] == pytest.approx(generated["frechet_distance"], rel=1e-6)
    # Two smoke epochs of a narrow DCGAN make blobs: far below the real test digits on both scores.
    real = scorer(scorer.real_images)
    assert real["inception_score"] > 3 * metrics["inception_score"]
    assert real["frechet_distance"] == pytest.approx(0, abs=1e-3)
    assert metrics["frechet_distance"] > 100


@pytest.mark.slow  # a fresh process
def test_generator_export_serves_uint8_images_and_reloads_in_a_fresh_process(gan_run, tmp_path):
    export = gan_run.export_dir
    noise = np.random.default_rng(3).normal(size=(8, 100)).astype(np.float32)
    np.save(tmp_path / "noise.npy", noise)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "served = loaded.serve(tf.constant(np.load(sys.argv[2])))\n"
        "np.save(sys.argv[3], served.numpy())\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(export),
            str(tmp_path / "noise.npy"),
            str(tmp_path / "o.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.load(tmp_path / "o.npy")
    assert served.dtype == np.uint8 and served.shape == (8, 32, 32, 1)  # MNIST padded to 32x32
    from kerascnn.models.dcgan import pixel_generator

    expected = pixel_generator(gan_run.model.generator).predict(noise, verbose=0)
    np.testing.assert_array_equal(served, expected)


def test_a_finished_run_samples_the_generator_it_exported(gan_run):
    from kerascnn.tools.sample import sample_images

    assert gan_run.recipe.optimizer.ema_momentum  # the final generator is the averaged one
    np.testing.assert_array_equal(
        sample_images(gan_run.run_dir, 8, seed=5), sample_images(gan_run.export_dir, 8, seed=5)
    )


def test_score_script_scores_a_checkpoint_three_ways(gan_run, tmp_path, monkeypatch, capfd):
    import runpy
    from types import SimpleNamespace

    # The script's main() in this process (a subprocess would import TensorFlow again).
    script = Path(__file__).resolve().parent.parent / "scripts" / "score_gan.py"
    score_main = runpy.run_path(str(script), run_name="score_gan")["main"]

    def score(*arguments):
        monkeypatch.setattr(sys, "argv", [str(script), *map(str, arguments)])
        code = score_main()
        out, err = capfd.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    done = score(gan_run.run_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if "inception score" in line]
    assert all("% ambiguous" in line and "confidence" in line for line in lines), lines
    assert [line.split(" inception")[0].strip() for line in lines] == [
        "current weights",
        "averaged weights, statistics from training",
        "averaged weights, statistics measured for them",
    ]
    refused = score(tmp_path)
    assert (
        refused.returncode == 2
        and "is not a run directory (no readable recipe.json)" in refused.stderr
    )
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("source", ["export", "run"])
def test_sample_command_writes_a_grid(gan_run, tmp_path, source, capfd):
    from matplotlib.image import imread

    from kerascnn.cli import main

    path = gan_run.export_dir if source == "export" else gan_run.run_dir
    out = tmp_path / "grid.png"
    code = main(["sample", str(path), "--n", "16", "--out", str(out)])
    done = capfd.readouterr()
    assert code == 0, done.err[-2000:]
    assert f"samples: {out}" in done.out
    pixels = imread(out)
    assert pixels.shape[:2] == (330, 1040)  # 16 images, 8 columns of 1.3 in, 2 rows + title


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{empty}", "--out", "x.png"], "holds no trained model"),
        (["{export}", "--n", "0", "--out", "x.png"], "--n must be at least 1, got 0"),
        (["{export}", "--out", "x.jpg"], "--out must name a .png file"),
    ],
)
def test_sample_command_rejects_bad_input_in_one_line(
    gan_run, tmp_path, monkeypatch, capfd, arguments, message
):
    from kerascnn.cli import main

    names = {"empty": tmp_path, "export": gan_run.export_dir}
    monkeypatch.chdir(tmp_path)
    assert main(["sample", *(a.format(**names) for a in arguments)]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not list(tmp_path.glob("x.*"))


def test_report_of_a_gan_run(gan_run):
    import re

    from matplotlib.image import imread

    from kerascnn.tools.report import write_report

    page = write_report(gan_run.run_dir)
    names = ["curves.png", "samples.png", "filters.png", "layer_time.png"]
    assert sorted(p.name for p in page.parent.glob("*.png")) == sorted(names)
    assert imread(page.parent / "samples.png").shape[:2] == (1200, 1040)  # 8 x 8 of 1.3 in + title
    for name in names:
        assert imread(page.parent / name)[..., :3].std() > 0.02, f"{name} is blank"
    text = page.read_text()
    assert sorted(re.findall(r'href="([^"]+)"', text)) == sorted(names)
    assert "inception_score" in text and "bundled MNIST sample" in text
