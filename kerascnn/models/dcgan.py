"""DCGAN's generator and discriminator (Radford, Metz & Chintala, 2015).

Both are all-convolutional: the generator projects a noise vector to a small feature map and doubles
its size with strided transposed convolutions; the discriminator halves the size with strided
convolutions and ends in one convolution that covers what is left. No pooling, no dense hidden layers,
BatchNorm everywhere except the generator's output and the discriminator's input, ReLU in the
generator with a tanh output, LeakyReLU 0.2 in the discriminator, weights drawn from N(0, 0.02)
(BatchNorm scales from N(1, 0.02), as in the reference code).

The number of stride-2 stages follows from the image size: it is halved while it stays even and at
least 4 pixels (64 -> 32 -> 16 -> 8 -> 4: four stages; 32: three; 28 -> 14 -> 7: two). The first
generator stage has `base_filters * 2 ** (stages - 1)` filters and each stage halves them; the
discriminator mirrors it.

Reference:
- Radford, Metz & Chintala, "Unsupervised representation learning with deep convolutional generative
  adversarial networks" (2015), sec. 3 and Fig. 1; the 64x64x3 layout of its reference code.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import initializers, layers

from kerascnn.errors import KerasCNNError
from kerascnn.layers import ToPixels
from kerascnn.models import common
from kerascnn.registry import models

LEAKY_SLOPE = 0.2
# The layer of a conditional generator that embeds its class labels (`kerascnn.models.cdcgan`).
LABEL_EMBEDDING = "label_embedding"


def normal_init():
    """Radford et al.'s initialisation: every weight from N(0, 0.02)."""
    return initializers.RandomNormal(0.0, 0.02)


def batch_norm(x, name):
    """BatchNorm whose statistics cover the whole global batch under a distribution strategy
    (`synchronized`), as on one device: replicas then train the same GAN one device would."""
    return layers.BatchNormalization(
        gamma_initializer=initializers.RandomNormal(1.0, 0.02),
        synchronized=True,
        name=f"{name}_bn",
    )(x)


def stages(image_shape, *, name: str) -> tuple[int, int]:
    """(number of stride-2 stages, side of the smallest feature map) for square `image_shape`."""
    if len(image_shape) != 3 or image_shape[0] != image_shape[1] or min(image_shape) < 1:
        raise KerasCNNError(
            f"{name}: image shape must be square (size, size, channels), got {tuple(image_shape)!r}"
        )
    side, count = int(image_shape[0]), 0
    while side % 2 == 0 and side // 2 >= 4:
        side, count = side // 2, count + 1
    if count == 0:
        raise KerasCNNError(
            f"{name}: image size {image_shape[0]} cannot be halved to a map of at least 4 pixels; "
            "use an even size of at least 8 (28, 32, 64 ...)"
        )
    return count, side


def convolution(x, filters, kernel_size, *, use_bias, name, transposed=False, strides=2):
    """A strided convolution ("same": doubles or halves the size) or, with `strides=1`, a "valid"
    one; weights from N(0, 0.02)."""
    layer = layers.Conv2DTranspose if transposed else layers.Conv2D
    return layer(
        filters,
        kernel_size,
        strides=strides,
        padding="same" if strides > 1 else "valid",
        use_bias=use_bias,
        kernel_initializer=normal_init(),
        name=name,
    )(x)


def up_block(x, filters, *, kernel_size, use_bias, name):
    """Transposed convolution doubling the size, BatchNorm, ReLU."""
    x = convolution(
        x, filters, kernel_size, use_bias=use_bias, transposed=True, name=f"{name}_deconv"
    )
    return layers.ReLU(name=f"{name}_relu")(batch_norm(x, name))


def down_block(x, filters, *, kernel_size, use_bias, normalize, name):
    """Strided convolution halving the size, BatchNorm (not on the input block), LeakyReLU 0.2."""
    x = convolution(x, filters, kernel_size, use_bias=use_bias, name=f"{name}_conv")
    if normalize:
        x = batch_norm(x, name)
    return layers.LeakyReLU(LEAKY_SLOPE, name=f"{name}_lrelu")(x)


def check_positive(name, **sizes):
    """Rejects sizes (argument name -> value) that are not positive integers."""
    for argument, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KerasCNNError(f"{name}: {argument} must be a positive integer, got {value!r}")


def check_options(name, latent_dim, base_filters, kernel_size, weights):
    """Rejects sizes that are not positive integers and weights that are not a file."""
    check_positive(name, latent_dim=latent_dim, base_filters=base_filters, kernel_size=kernel_size)
    common.check_arguments(name=name, include_top=False, weights=weights, pooling=None, classes=1)


@models.register(task="gan_generator")
def dcgan_generator(
    weights=None,
    image_shape=(64, 64, 3),
    latent_dim=100,
    name="dcgan_generator",
    *,
    base_filters=64,
    kernel_size=4,
    use_bias=False,
) -> keras.Model:
    """DCGAN's generator: noise (latent_dim,) -> image in [-1, 1] of `image_shape`.

    At the reference 64x64x3 configuration (latent 100, 64 base filters, 4x4 kernels, no bias) it has
    3,576,704 trainable parameters; at 28x28x1 with the same settings, 759,680 (two stages:
    7x7x128 -> 14x14x64 -> 28x28x1). The output layer `images` is float32 under any precision policy.

    Args:
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        image_shape: (size, size, channels) of the images made, e.g. (28, 28, 1) or (64, 64, 3).
        latent_dim: length of the noise vector.
        name: the model's name.
        base_filters: filters of the last hidden stage (the paper: 64 at 64x64, "ngf").
        kernel_size: side of every transposed convolution's kernel (the reference code: 4).
        use_bias: whether convolutions have biases (not in the reference: BatchNorm follows).

    Returns:
        A Functional `keras.Model` from `noise` to `images`.
    """
    check_options(name, latent_dim, base_filters, kernel_size, weights)
    inputs = keras.Input(shape=(latent_dim,), name="noise")
    outputs = generator_stack(
        inputs,
        image_shape,
        base_filters=base_filters,
        kernel_size=kernel_size,
        use_bias=use_bias,
        name=name,
    )
    return common.finish(inputs, outputs, input_tensor=None, name=name, weights=weights)


def generator_stack(code, image_shape, *, base_filters, kernel_size, use_bias, name):
    """The generator from a code vector (noise, or noise and label embedding) to the images: a
    projection to the smallest map, the stride-2 up blocks, a tanh output in float32."""
    count, side = stages(image_shape, name=name)
    x = layers.Reshape((1, 1, int(code.shape[-1])), name="noise_map")(code)
    # The projection: a transposed convolution from 1x1 to side x side (the paper's "project and
    # reshape", written as a convolution as in its reference code).
    x = convolution(
        x,
        base_filters * 2 ** (count - 1),
        side,
        use_bias=use_bias,
        transposed=True,
        strides=1,
        name="project_deconv",
    )
    x = layers.ReLU(name="project_relu")(batch_norm(x, "project"))
    for stage in range(1, count):
        x = up_block(
            x,
            base_filters * 2 ** (count - 1 - stage),
            kernel_size=kernel_size,
            use_bias=use_bias,
            name=f"block{stage}",
        )
    x = convolution(
        x, image_shape[-1], kernel_size, use_bias=use_bias, transposed=True, name="output_deconv"
    )
    return layers.Activation("tanh", dtype="float32", name="images")(x)


@models.register(task="gan_discriminator")
def dcgan_discriminator(
    weights=None,
    input_shape=(64, 64, 3),
    name="dcgan_discriminator",
    *,
    base_filters=64,
    kernel_size=4,
    use_bias=False,
) -> keras.Model:
    """DCGAN's discriminator: image in [-1, 1] -> one logit (real > 0 > fake).

    At the reference 64x64x3 configuration (64 base filters, 4x4 kernels, no bias) it has 2,765,568
    trainable parameters; at 28x28x1, 138,624 (14x14x64 -> 7x7x128 -> one 7x7 convolution). It
    returns logits, not probabilities, so the loss is computed stably (`from_logits=True`); the
    output `logits` is float32 under any precision policy.

    Args:
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_shape: (size, size, channels) of the images judged.
        name: the model's name.
        base_filters: filters of the first stage (the paper: 64 at 64x64, "ndf").
        kernel_size: side of every strided convolution's kernel (the reference code: 4).
        use_bias: whether convolutions have biases (not in the reference).

    Returns:
        A Functional `keras.Model` from `images` to `logits` of shape (batch, 1).
    """
    check_options(name, 1, base_filters, kernel_size, weights)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    features = discriminator_stack(
        inputs, base_filters=base_filters, kernel_size=kernel_size, use_bias=use_bias, name=name
    )
    outputs = output_head(
        features, 1, use_bias=use_bias, names=("output_conv", "flatten", "logits")
    )
    return common.finish(inputs, outputs, input_tensor=None, name=name, weights=weights)


def discriminator_stack(images, *, base_filters, kernel_size, use_bias, name):
    """The discriminator's stride-2 down blocks: images -> the smallest feature map."""
    count, _ = stages(tuple(images.shape[1:]), name=name)
    x = images
    for stage in range(count):
        x = down_block(
            x,
            base_filters * 2**stage,
            kernel_size=kernel_size,
            use_bias=use_bias,
            normalize=stage > 0,
            name=f"block{stage + 1}",
        )
    return x


def output_head(features, units, *, use_bias, names):
    """One "valid" convolution covering the whole feature map, flattened to (batch, units) float32
    logits; `names`: of the convolution, the flattening and the output."""
    conv, flatten, output = names
    x = convolution(features, units, features.shape[1], use_bias=use_bias, strides=1, name=conv)
    x = layers.Flatten(name=flatten)(x)
    return layers.Activation("linear", dtype="float32", name=output)(x)


def recalibrate_batch_norm(generator, *, batches=20, batch_size=500, seed=None):
    """Sets the moving mean and variance of every BatchNorm layer of `generator` to their average
    over `batches` batches of fresh noise, as torch.optim.swa_utils.update_bn does for averaged
    weights: the statistics gathered in training belong to the raw weights, not to their average."""

    norms = [layer for layer in generator.layers if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    latent_dim = latent_size(generator)
    rng = tf.random.Generator.from_seed(0 if seed is None else seed)
    try:
        for batch in range(batches):
            for layer in norms:
                # Batch k weighs 1/k: the moving statistics become the mean over the batches.
                layer.momentum = batch / (batch + 1)
            noise = rng.normal((batch_size, latent_dim)).numpy()
            generator(generator_inputs(generator, noise), training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum


def _replicas() -> int:

    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="kerascnn")
class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other (Goodfellow et al. 2014).

    Each `train_step` takes a batch of real images as pixel values 0-255 (like every kerascnn model;
    labels, if any, are ignored), scales them to [-1, 1], the generator's tanh range, and makes one
    discriminator
    update (real -> 1, generated -> 0) and `generator_steps` generator updates (generated -> 1, the
    non-saturating loss of Goodfellow et al.), each on fresh noise from the model's `SeedGenerator`.

    Losses are `keras.losses.Loss` objects with "sum_over_batch_size" reduction, which divide by the
    number of replicas under a `tf.distribute` strategy, so the gradients summed over replicas are
    those of the global batch; the trackers get the unscaled values. Under a mixed-precision policy
    the optimizers are wrapped in `LossScaleOptimizer` (by `compile`) and every loss is scaled
    before its gradients are taken.

    Args:
        generator: a model from noise (latent_dim,) to images, e.g. `dcgan_generator`.
        discriminator: a model from images to one logit, e.g. `dcgan_discriminator`.
        seed: seed of the noise.
        generator_steps: generator updates per discriminator update. Radford et al.: 1; the
            DCGAN-tensorflow reimplementation (Kim, 2016) makes 2 so that the discriminator's loss
            does not go to zero.

    Example:
        >>> gan = DCGAN(dcgan_generator(image_shape=(28, 28, 1)),
        ...             dcgan_discriminator(input_shape=(28, 28, 1)))
        >>> gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5),
        ...             keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> gan.fit(images_0_to_255, epochs=1)
    """

    # The number of classes a conditional GAN draws (`kerascnn.models.cdcgan`); None: noise alone.
    classes = None

    def __init__(self, generator, discriminator, seed=None, generator_steps=1, **kwargs):
        if (
            isinstance(generator_steps, bool)
            or not isinstance(generator_steps, int)
            or generator_steps < 1
        ):
            raise KerasCNNError(
                f"generator_steps must be a positive integer, got {generator_steps!r}"
            )
        super().__init__(**kwargs)
        self.generator_steps = generator_steps
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="d_real")
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")
        self.rescale = layers.Rescaling(1 / 127.5, offset=-1, name="rescale")
        # Every part built now, so that `fit` never traces `call` (noise) with images.
        self.rescale.build(discriminator.inputs[0].shape)
        self.built = True  # both parts are built Functional models

    def compile(self, d_optimizer, g_optimizer, loss=None, label_smoothing=0.0, **kwargs):
        """`loss` compares logits with 0/1 targets (default: binary cross-entropy on logits).
        `label_smoothing` s is one-sided (Salimans et al. 2016): the discriminator learns to call
        real images real with target 1 - s; generated images keep 0, the generator's targets 1."""
        if not 0 <= label_smoothing < 1:
            raise KerasCNNError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        # No `optimizer` of Keras' own: the two below are the model's only optimizers.
        super().compile(optimizer=None, **kwargs)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            d_optimizer, g_optimizer = (
                o
                if isinstance(o, keras.optimizers.LossScaleOptimizer)
                else keras.optimizers.LossScaleOptimizer(o)
                for o in (d_optimizer, g_optimizer)
            )
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss or keras.losses.BinaryCrossentropy(from_logits=True)
        self.label_smoothing = float(label_smoothing)
        # Built here, in the caller's strategy scope: their slots must not be made inside a replica.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.real_score_tracker,
            self.fake_score_tracker,
        ]

    def fit(self, *args, write_averaged_weights: bool = True, **kwargs):
        """Keras' `fit`; then, as Keras does for a model's own optimizer, optimizers that keep a
        moving average of the weights (`use_ema`) write it into their network, unless
        `write_averaged_weights` is False (a run trained in several `fit` calls writes them at
        the end of its last)."""
        history = super().fit(*args, **kwargs)
        if write_averaged_weights:
            self.write_averaged_weights()
        return history

    def write_averaged_weights(self):
        """Each network takes its optimizer's moving average of its weights, if it keeps one; a
        generator that took one gets BatchNorm statistics measured for those weights."""
        self.d_optimizer.finalize_variable_values(self.discriminator.trainable_weights)
        self.g_optimizer.finalize_variable_values(self.generator.trainable_weights)
        if self.g_optimizer.use_ema:
            recalibrate_batch_norm(self.generator, seed=self.seed)

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def noise(self, batch_size):
        """Fresh noise for `batch_size` images. Under a `tf.distribute` strategy each replica takes
        its own slice of the noise of the whole global batch, so N replicas train on the noise one
        device would draw for the same global batch (and so reach the same losses)."""

        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return tf.random.stateless_normal((batch_size, self.latent_dim), seed=seed)
        replicas = context.num_replicas_in_sync
        every = tf.random.stateless_normal((batch_size * replicas, self.latent_dim), seed=seed)
        first = tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.cast(batch_size, tf.int32)
        return every[first : first + batch_size]

    def real_batch(self, data):
        """(real images 0-255, their labels or None) of a batch `fit` passes: this GAN ignores
        labels."""
        return (data[0] if isinstance(data, (tuple, list)) else data), None

    def generate(self, noise, labels, training=False):
        """Images in [-1, 1] from `noise` (and, for a conditional GAN, `labels`)."""
        return self.generator(noise, training=training)

    def judge(self, images, labels, training=False):
        """(the discriminator's logits, real > 0 > fake; a loss it adds, 0 here) for `images`."""
        return self.discriminator(images, training=training), 0.0

    def train_step(self, data):

        images, labels = self.real_batch(data)
        real = self.rescale(images)
        batch_size = keras.ops.shape(real)[0]
        ones = keras.ops.ones((batch_size, 1))
        zeros = keras.ops.zeros((batch_size, 1))

        with tf.GradientTape() as tape:
            fake = self.generate(self.noise(batch_size), labels, training=True)
            real_logits, real_extra = self.judge(real, labels, training=True)
            fake_logits, fake_extra = self.judge(fake, labels, training=True)
            real_targets = ones * (1.0 - self.label_smoothing)
            d_loss = self.loss_fn(real_targets, real_logits) + self.loss_fn(zeros, fake_logits)
            d_loss = d_loss + real_extra + fake_extra
            scaled = self.d_optimizer.scale_loss(d_loss)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(scaled, weights), weights)

        weights = self.generator.trainable_weights
        for _ in range(self.generator_steps):
            with tf.GradientTape() as tape:
                fake = self.generate(self.noise(batch_size), labels, training=True)
                fake_judged, extra = self.judge(fake, labels, training=True)
                g_loss = self.loss_fn(ones, fake_judged) + extra
                scaled = self.g_optimizer.scale_loss(g_loss)
            self.g_optimizer.apply(tape.gradient(scaled, weights), weights)

        replicas = _replicas()
        self.d_loss_tracker.update_state(d_loss * replicas)
        self.g_loss_tracker.update_state(g_loss * replicas)
        # The discriminator's mean belief that real and generated images are real.
        self.real_score_tracker.update_state(keras.ops.sigmoid(real_logits))
        self.fake_score_tracker.update_state(keras.ops.sigmoid(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    # The noise generator's position is part of a checkpoint, so a resumed run draws the noise an
    # uninterrupted one would (Keras saves a seed generator's state only for layers it tracks).
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["noise_seed_state"] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        if "noise_seed_state" in store:
            self.seed_generator.state.assign(store["noise_seed_state"][...])
        own = {key: store[key] for key in store.keys() if key != "noise_seed_state"}
        super().load_own_variables(own)

    def get_compile_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            "d_optimizer": serialize(self.d_optimizer),
            "g_optimizer": serialize(self.g_optimizer),
            "loss": serialize(self.loss_fn),
            "label_smoothing": self.label_smoothing,
        }

    def compile_from_config(self, config):
        """Recreates (and builds) both optimizers, so a checkpoint's optimizer state loads."""
        deserialize = keras.saving.deserialize_keras_object
        self.compile(
            deserialize(config["d_optimizer"]),
            deserialize(config["g_optimizer"]),
            deserialize(config["loss"]),
            label_smoothing=config.get("label_smoothing", 0.0),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "seed": self.seed,
            "generator_steps": self.generator_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)


@models.register(task="gan")
def dcgan(
    weights=None,
    image_shape=(28, 28, 1),
    latent_dim=100,
    name="dcgan",
    *,
    base_filters=64,
    kernel_size=4,
    use_bias=False,
    seed=None,
    generator_steps=1,
) -> DCGAN:
    """DCGAN (Radford et al. 2015): generator and discriminator trained against each other.

    The model of GAN recipes: a `DCGAN` of `dcgan_generator` and `dcgan_discriminator` for images
    of `image_shape`.

    Args:
        weights: `None` or the path of a `.keras` file of a DCGAN saved by kerascnn.
        image_shape: (size, size, channels) of the images, e.g. (28, 28, 1) for MNIST.
        latent_dim: length of the noise vector.
        name: the model's name.
        base_filters, kernel_size, use_bias: as in both parts (Radford et al.: 64, 4, no bias).
        seed: seed of the training noise.
        generator_steps: generator updates per discriminator update (Radford et al.: 1).
    """
    options = dict(base_filters=base_filters, kernel_size=kernel_size, use_bias=use_bias)
    gan = DCGAN(
        dcgan_generator(image_shape=image_shape, latent_dim=latent_dim, **options),
        dcgan_discriminator(input_shape=image_shape, **options),
        seed=seed,
        generator_steps=generator_steps,
        name=name,
    )
    return load_gan_weights(gan, weights)


def load_gan_weights(gan: DCGAN, weights: str | None) -> DCGAN:
    """`gan` with both networks' weights from the `.keras` file `weights` (None: as they are)."""
    if weights is not None:
        common.check_arguments(
            name=gan.name, include_top=False, weights=weights, pooling=None, classes=1
        )
        source = keras.saving.load_model(weights, compile=False, safe_mode=True)
        gan.generator.set_weights(source.generator.get_weights())
        gan.discriminator.set_weights(source.discriminator.get_weights())
    return gan


def generator_classes(generator: keras.Model) -> int | None:
    """The number of classes a conditional generator (noise, labels) draws; None for a generator
    of noise alone."""
    if len(generator.inputs) == 1:
        return None
    return int(generator.get_layer(LABEL_EMBEDDING).input_dim)


def requested_labels(generator: keras.Model, count: int) -> np.ndarray | None:
    """The labels `count` images of `generator` are drawn for when none are chosen: every class in
    turn (0, 1, ..., 9, 0, 1, ...), so all are drawn equally often; None for an unconditional one."""
    classes = generator_classes(generator)
    return None if classes is None else class_cycle(count, classes)


def class_cycle(count: int, classes: int) -> np.ndarray:
    """`count` int32 labels, every class in turn: 0, 1, ..., classes - 1, 0, 1, ..."""
    return np.arange(count, dtype=np.int32) % classes


def generator_inputs(generator: keras.Model, noise, labels=None):
    """What `generator` takes: `noise`, or [noise, labels] for a conditional one (`labels` None:
    `requested_labels`)."""
    if generator_classes(generator) is None:
        if labels is not None:
            raise KerasCNNError(
                f"{generator.name} draws from noise alone and takes no labels; "
                "labels need a conditional GAN such as cdcgan"
            )
        return noise
    if labels is None:
        labels = requested_labels(generator, int(noise.shape[0]))
    return [noise, labels]


def pixel_generator(generator: keras.Model) -> keras.Model:
    """The generator as served: noise (n, latent_dim) float32 (and for a conditional generator
    labels (n,) int32) -> images uint8 0-255."""
    inputs = [keras.Input(shape=generator.inputs[0].shape[1:], name="noise", dtype="float32")]
    if generator_classes(generator) is not None:
        inputs.append(keras.Input(shape=(), name="labels", dtype="int32"))
    served = inputs[0] if len(inputs) == 1 else inputs
    return keras.Model(served, ToPixels(name="pixels")(generator(served)), name=generator.name)


def seeded_noise(latent_dim: int, count: int, seed: int = 0) -> np.ndarray:
    """(count, latent_dim) float32 normal noise from `seed`."""
    return np.random.default_rng(seed).normal(size=(count, latent_dim)).astype(np.float32)


def latent_size(generator: keras.Model) -> int:
    """The length of the noise vector `generator` takes."""
    return int(generator.inputs[0].shape[-1])


def pixels_of(generator: keras.Model, noise, labels=None, *, batch_size: int = 500):
    """The images `generator` draws from `noise` (and `labels`, see `generator_inputs`) as float32
    pixel values 0-255."""
    inputs = generator_inputs(generator, noise, labels)
    images = generator.predict(inputs, batch_size=batch_size, verbose=0)
    return np.clip(np.round((np.asarray(images, np.float32) + 1) * 127.5), 0, 255)


def generate_pixels(
    generator: keras.Model, count: int, *, seed: int = 0, labels=None, batch_size: int = 500
):
    """`count` generated images as float32 pixel values 0-255, from seeded noise (and, for a
    conditional generator, `labels`; None: `requested_labels`)."""
    noise = seeded_noise(latent_size(generator), count, seed)
    return pixels_of(generator, noise, labels, batch_size=batch_size)


def class_rows(latent_dim: int, classes: int, per_class: int, *, seed: int = 0):
    """(noise, labels) for one row of `per_class` images of each class, column j of every row from
    the same noise: a row shows its class, a column one style."""
    noise = np.tile(seeded_noise(latent_dim, per_class, seed), (classes, 1))
    return noise, np.repeat(np.arange(classes, dtype=np.int32), per_class)


def row_titles(labels, per_class: int) -> list[str]:
    """Each row's label over its first image, nothing over the others."""
    return [str(label) if i % per_class == 0 else "" for i, label in enumerate(labels)]


def sample_sheet(generator: keras.Model, count: int, *, seed: int = 0):
    """(images as pixel values, titles or None, columns): the figure of `count` images a GAN run
    shows, from fixed noise: rows of 8; for a conditional generator one row per class of
    ceil(count / classes) images, the same noise in every row, titled by class."""
    classes = generator_classes(generator)
    if classes is None:
        return generate_pixels(generator, count, seed=seed), None, 8
    per_class = -(-count // classes)
    noise, labels = class_rows(latent_size(generator), classes, per_class, seed=seed)
    return pixels_of(generator, noise, labels), row_titles(labels, per_class), per_class
