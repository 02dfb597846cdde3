"""DropConnect (Wan et al. 2013): a dense layer that drops individual weights, not units."""

from __future__ import annotations

import keras
from keras import ops

INFERENCE_RULES = ("mean", "gaussian")


@keras.saving.register_keras_serializable(package="kerascnn")
class DropConnect(keras.layers.Layer):
    """A fully connected layer whose weights are dropped at random in training.

    In training, every example draws its own mask M of the weight matrix, each entry kept with
    probability `1 - rate`, and the layer computes `activation((M * W) v + b)` (Wan et al., eq. 1:
    no rescaling of the kept weights). At inference the mask is replaced by its expectation:

    - `inference="mean"`: `activation(((1 - rate) W) v + b)`, the mean approximation (what dropout
      does), deterministic and cheap.
    - `inference="gaussian"`: the paper's rule (sec. 3, Algorithm 2): the pre-activation of each unit
      is a sum of many independent terms, approximated by a Gaussian with mean `(1 - rate) W v` and
      variance `rate (1 - rate) (W * W)(v * v)`; the output is the average of `activation` over
      `inference_samples` draws from it, plus the bias. The draws use a fixed seed, so inference is
      deterministic. With a linear activation both rules give the same mean.

    Reference:
    - Wan, Zeiler, Zhang, LeCun & Fergus, "Regularization of Neural Networks using DropConnect",
      ICML 2013.

    Args:
        units: output size.
        rate: probability of dropping a weight, in [0, 1) (the paper: 0.5).
        activation: activation function (applied before averaging under the gaussian rule).
        use_bias: whether to add a bias (never dropped).
        inference: "mean" or "gaussian", as above.
        inference_samples: draws per unit for the gaussian rule (the paper: 1,000).
        kernel_initializer, bias_initializer: as for `keras.layers.Dense`.
        seed: seed of the training masks and of the inference draws.

    Shapes: (batch, features) -> (batch, units). Training memory grows with batch * features * units
    (one mask per example, as in the paper).

    Example:
        >>> layer = DropConnect(10, rate=0.5, activation="softmax")
        >>> layer(keras.ops.ones((2, 50)), training=True).shape
        (2, 10)
    """

    def __init__(
        self,
        units: int,
        rate: float = 0.5,
        activation=None,
        use_bias: bool = True,
        inference: str = "mean",
        inference_samples: int = 1000,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"DropConnect units must be a positive integer, got {units!r}")
        if not 0 <= rate < 1:
            raise ValueError(f"DropConnect rate must be in [0, 1), got {rate!r}")
        if inference not in INFERENCE_RULES:
            raise ValueError(
                f"DropConnect inference must be one of {', '.join(INFERENCE_RULES)}, "
                f"got {inference!r}"
            )
        if not isinstance(inference_samples, int) or inference_samples < 1:
            raise ValueError(
                f"DropConnect inference_samples must be a positive integer, got {inference_samples!r}"
            )
        self.units = units
        self.rate = rate
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.inference = inference
        self.inference_samples = inference_samples
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )

    def _add_bias(self, x):
        return x + self.bias if self.bias is not None else x

    def call(self, inputs, training=False):
        keep = 1.0 - self.rate
        if training and self.rate > 0:
            shape = (ops.shape(inputs)[0], *self.kernel.shape)
            mask = keras.random.uniform(shape, seed=self.seed_generator) >= self.rate
            kernels = ops.where(mask, self.kernel, ops.zeros_like(self.kernel))
            return self.activation(self._add_bias(ops.einsum("bi,bio->bo", inputs, kernels)))
        mean = ops.matmul(inputs, self.kernel) * keep
        if self.inference == "mean" or self.rate == 0:
            return self.activation(self._add_bias(mean))
        variance = ops.matmul(ops.square(inputs), ops.square(self.kernel)) * (self.rate * keep)
        # A fixed seed: the same input always gets the same answer.
        draws = keras.random.normal(
            (self.inference_samples, *ops.shape(mean)), seed=self.seed if self.seed else 0
        )
        samples = self._add_bias(mean[None] + ops.sqrt(variance)[None] * draws)
        return ops.mean(self.activation(samples), axis=0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "rate": self.rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "inference": self.inference,
            "inference_samples": self.inference_samples,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        }
