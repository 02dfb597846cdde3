"""What every builder does the same way: check its arguments, make its input, add its head, load weights.

Builders follow keras.applications: validate arguments, make the input, stack blocks, add the head, return
`keras.Model(inputs, outputs, name=name)`, load weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import keras
from keras import layers

from kerascnn.errors import KerasCNNError
from kerascnn.models import weights as pretrained


def check_arguments(
    *, name, include_top, weights, pooling, classes, family=None, arguments=None
) -> None:
    """Rejects the argument combinations no builder accepts. `family` (the registry key, which
    `name` need not be) and its builder's own `arguments` let `weights="imagenet"` and foreign
    weight files be checked against what the weights were trained with."""
    pretrained.check(
        family or name, weights, include_top=include_top, classes=classes, arguments=arguments or {}
    )
    if pooling not in (None, "avg", "max"):
        raise KerasCNNError(f"{name}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise KerasCNNError(f"{name}: classes must be a positive integer, got {classes!r}")


def image_input(
    *,
    name: str,
    input_tensor,
    input_shape: Sequence[int | None] | None,
    default_shape: tuple[int, int, int],
    min_size: int,
):
    """Returns the model's input after checking it is an (h, w, c) image of at least `min_size` px."""
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    shape = tuple(default_shape if input_shape is None else input_shape)
    if len(shape) != 3:
        raise KerasCNNError(f"{name}: input_shape must be (height, width, channels), got {shape!r}")
    height, width, channels = shape
    if not channels or channels < 1:
        raise KerasCNNError(f"{name}: input needs at least one channel, got {shape!r}")
    too_small = [side for side in (height, width) if side is not None and side < min_size]
    if too_small:
        raise KerasCNNError(
            f"{name}: input {height}x{width} is too small, the network needs at least "
            f"{min_size}x{min_size} pixels; resize or pad the images"
        )
    if input_tensor is None:
        return keras.Input(shape=shape, name="images")
    if not keras.backend.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=shape, name="images")
    return input_tensor


def pooled_features(x, pooling: str | None, name_prefix: str = ""):
    """The headless output: the last feature map, or its global average or max."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"{name_prefix}avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"{name_prefix}max_pool")(x)
    return x


# The name of a classifier's output layer (keras.applications' grammar); a model with auxiliary
# heads names its main output so.
PREDICTIONS = "predictions"


def predictions(x, classifier_activation):
    """The output layer, always float32 so that softmax and the loss stay exact under mixed precision."""
    return layers.Activation(classifier_activation or "linear", dtype="float32", name=PREDICTIONS)(
        x
    )


def preprocessed(inputs, *, family: str, weights, include_top: bool, classes):
    """The builder's input behind the preprocessing its pretrained `weights` were trained with
    (`kerascnn.models.weights.preprocessed`); `inputs` itself without such weights."""
    return pretrained.preprocessed(
        inputs, family, weights, include_top=include_top, classes=classes
    )


def finish(
    inputs,
    outputs,
    *,
    input_tensor,
    name: str,
    weights: str | None,
    family: str | None = None,
    include_top: bool = True,
    classes=None,
) -> keras.Model:
    """Makes the Functional model and loads `weights` into it: kerascnn's own files here,
    "imagenet" and foreign layouts through `kerascnn.models.weights.load`."""
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, outputs, name=name)
    if weights == "imagenet" or pretrained.layout_of(weights) not in (None, pretrained.NATIVE):
        pretrained.load(model, family or name, weights, include_top=include_top, classes=classes)
    elif weights is not None:
        try:
            if str(weights).endswith(".keras"):
                source = keras.saving.load_model(weights, compile=False, safe_mode=True)
                _check_same_preprocessing(source, model, weights)
                model.set_weights(source.get_weights())
            else:
                model.load_weights(weights)
        except (ValueError, OSError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise KerasCNNError(
                f"{name}: cannot load weights from {weights}: {first_line}; pass weights saved "
                "from the same architecture, input shape and class count"
            ) from None
    return model


def _check_same_preprocessing(source, model, weights) -> None:
    """A `.keras` network that preprocesses its input (pretrained weights) cannot lend its weights
    to one that does not: the weights would see other values than they were trained on."""
    names = [{layer.name for layer in m.layers} for m in (source, model)]
    if ("preprocess" in names[0]) != ("preprocess" in names[1]):
        raise KerasCNNError(
            f"{model.name}: {weights} holds a network {'with' if 'preprocess' in names[0] else 'without'} "
            "the input preprocessing of pretrained weights (layer `preprocess`) and this one is "
            "built otherwise; load the whole model with keras.saving.load_model instead"
        )


def check_flag(name: str, flag: str, value) -> None:
    """Rejects a builder flag that is not a real bool (a recipe typo such as "yes" would be truthy)."""
    if not isinstance(value, bool):
        raise KerasCNNError(f"{name}: {flag} must be True or False, got {value!r}")


def check_rate(name: str, argument: str, value) -> None:
    """Rejects a dropout-style rate that is not a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise KerasCNNError(f"{name}: {argument} must be a number in [0, 1), got {value!r}")


def check_choice(name: str, argument: str, value, choices) -> None:
    """Rejects a value outside `choices` (e.g. a stem), listing the valid ones."""
    if value not in choices:
        raise KerasCNNError(
            f"{name}: {argument} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )


def stem_input(
    *,
    name: str,
    stem: str,
    stems,
    input_tensor,
    input_shape,
    default_shape: tuple[int, int, int],
    min_size,
    small_stem: str,
):
    """`image_input` for a family with an ImageNet and a small stem.

    `min_size(stem)` gives the minimum side for a stem; a too-small input with the ImageNet stem
    suggests `stem='small'`, described by `small_stem`, which is what 28 and 32 px images want.
    """
    check_choice(name, "stem", stem, stems)
    try:
        return image_input(
            name=name,
            input_tensor=input_tensor,
            input_shape=input_shape,
            default_shape=default_shape,
            min_size=min_size(stem),
        )
    except KerasCNNError as error:
        if stem != "imagenet" or "too small" not in str(error):
            raise
        small = min_size("small")
        raise KerasCNNError(
            f"{error}, or pass stem='small' ({small_stem}; at least {small}x{small} pixels), the "
            "usual choice for 28x28 and 32x32 images"
        ) from None


def with_shared_doc(shared_doc: str):
    """Appends a family's shared details, arguments and example to a builder's docstring."""

    def decorate(builder):
        builder.__doc__ = (
            inspect.cleandoc(builder.__doc__) + "\n" + shared_doc.format(name=builder.__name__)
        )
        return builder

    return decorate
