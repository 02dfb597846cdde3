"""Pretrained weights (kerascnn.models.weights), offline: files in each real format, written here
with random values, land where they belong, and give the outputs their own reference computes."""

from __future__ import annotations

import time
import zipfile

import keras
import numpy as np
import pytest
from weight_files import (
    TORCHVISION_STATE_DICTS,
    random_state,
    state_pickle,
    torchvision_model,
    torchvision_models,
    write_checkpoint_legacy,
    write_checkpoint_zip,
    write_keras_h5,
)

from kerascnn import class_names
from kerascnn.errors import KerasCNNError, RecipeError, WeightsError
from kerascnn.models import create_model
from kerascnn.models import weights as pretrained
from kerascnn.models.pixels import IMAGENET_MEAN, IMAGENET_STD

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def numpy_conv(x, kernel, stride, padding):
    """A plain convolution of NHWC `x` with a torch (out, in, h, w) kernel."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    _, kh, kw, _ = (None, *kernel.shape[2:], None)
    height = (x.shape[1] - kh) // stride + 1
    width = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], height, width, kernel.shape[0]), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * height : stride, j : j + stride * width : stride, :]
            out += patch @ kernel[:, :, i, j].T.astype(np.float64)
    return out


def every_tensor_lands_once(model, state):
    """Each array of the file (BatchNorm step counters aside) equals, as a multiset of values,
    exactly one weight of the model, and every weight of the model has one."""
    weights = {w.path: np.sort(np.asarray(w).ravel()) for w in model.weights}
    taken = set()
    for key, array in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        values = np.sort(array.ravel())
        places = [
            path
            for path, ours in weights.items()
            if path not in taken and ours.shape == values.shape and np.array_equal(ours, values)
        ]
        assert len(places) == 1, (key, places)
        taken.add(places[0])
    assert taken == set(weights)


def test_imagenet_class_names_are_shipped():
    names = class_names.imagenet()
    assert len(names) == 1000 == len(set(names))
    assert (names[0], names[1], names[999]) == ("tench", "goldfish", "toilet tissue")
    assert class_names.for_outputs(1000) == names


# ---------------------------------------------------------------------------------------------
# The restricted unpickler


STATE = {
    "a.weight": np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4),
    "a.bias": np.array([-1.5, 2.25], np.float32),
    "bn.num_batches_tracked": np.asarray(3, np.int64),
}


@pytest.mark.parametrize("writer", [write_checkpoint_zip, write_checkpoint_legacy])
def test_checkpoint_is_read_without_torch(tmp_path, writer):
    path = tmp_path / "model.pth"
    writer(path, STATE)
    read = pretrained.read_checkpoint(path)
    assert list(read) == list(STATE)
    for key, value in STATE.items():
        assert read[key].dtype == value.dtype and np.array_equal(read[key], value)


# A pickle that calls `module.name(argument)` when loaded: what a hostile checkpoint holds.
HOSTILE = {
    "os.system": "touch {marker}",
    "builtins.eval": "open({marker!r}, 'w').close()",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "ran"
    module, function = name.split(".")
    argument = HOSTILE[name].format(marker=str(marker)).encode()
    payload = b"\x80\x02c" + f"{module}\n{function}\n".encode()
    payload += b"X" + len(argument).to_bytes(4, "little") + argument + b"\x85R."
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(WeightsError, match=rf"asks to load {name}.* refused"):
        pretrained.read_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(WeightsError, match="refused"):
        create_model("alexnet", weights=str(path), input_shape=(64, 64, 3))
    assert not marker.exists()


def test_tensor_outside_its_storage_is_refused(tmp_path):
    path = tmp_path / "bad.pth"
    bad = state_pickle({"w": np.zeros(4, np.float32)}).replace(
        b"(J\x04\x00\x00\x00t(",
        b"(J\x09\x00\x00\x00t(",
        1,  # size (9,) over 4 elements
    )
    write_checkpoint_zip(path, {"w": np.zeros(4, np.float32)}, pickle_bytes=bad)
    with pytest.raises(WeightsError, match="reaches element 8 of a storage of 4"):
        pretrained.read_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(WeightsError, match="not a torch checkpoint"):
        pretrained.read_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# torchvision's layout: .safetensors (the Hub's timm/*.tv_in1k) and .pth


def torch_input(x):
    return (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)


def test_resnet18_from_safetensors_and_pth(tmp_path):
    state = random_state("resnet18")
    safe, pth = tmp_path / "model.safetensors", tmp_path / "resnet18.pth"
    safetensors_numpy.save_file(state, str(safe))
    write_checkpoint_zip(pth, state)
    model = create_model(
        "resnet18", weights=str(safe), input_shape=(32, 32, 3), classifier_activation=None
    )
    every_tensor_lands_once(model, state)
    # Known values at known places: torch's (out, in, h, w) is Keras' (h, w, in, out).
    kernel = model.get_layer("conv3_block1_0_conv").kernel
    assert kernel[0, 0, 7, 5] == state["layer2.0.downsample.0.weight"][5, 7, 0, 0]
    bn = model.get_layer("conv5_block2_2_bn")
    assert bn.moving_variance[3] == state["layer4.1.bn2.running_var"][3]
    assert bn.gamma[3] == state["layer4.1.bn2.weight"][3]
    assert model.get_layer("fc").kernel[100, 9] == state["fc.weight"][9, 100]
    assert model.get_layer("preprocess").scale.tolist() == pytest.approx(
        [1 / s for s in IMAGENET_STD]
    )
    # Outputs: the stem and the classifier recomputed in NumPy from the file's numbers.
    x = pixels((2, 32, 32, 3))
    probe = keras.Model(
        model.inputs,
        [model.get_layer("conv1_relu").output, model.get_layer("avg_pool").output, model.output],
    )
    stem, pooled, logits = (np.asarray(t) for t in probe(x))
    conv = numpy_conv(torch_input(x), state["conv1.weight"], 2, 3)
    scale = state["bn1.weight"] / np.sqrt(state["bn1.running_var"] + 1e-5)
    expected = np.maximum(0, (conv - state["bn1.running_mean"]) * scale + state["bn1.bias"])
    np.testing.assert_allclose(stem, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    expected = pooled @ state["fc.weight"].T + state["fc.bias"]
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    # The .pth gives the same model.
    again = create_model(
        "resnet18", weights=str(pth), input_shape=(32, 32, 3), classifier_activation=None
    )
    np.testing.assert_array_equal(np.asarray(again(x)), logits)


def test_alexnet_classifier_reads_torch_flattening(tmp_path):
    """torch flattens AlexNet's 256x6x6 map channel-first, Keras channel-last: fc1's inputs are
    reordered, checked against the map flattened torch's way."""
    state = random_state("alexnet")
    path = tmp_path / "alexnet-owt.pth"
    write_checkpoint_legacy(path, state)  # the legacy format of torchvision's older files
    model = create_model(
        "alexnet",
        weights=str(path),
        input_shape=(96, 96, 3),  # 2x2 after block3, brought to 6x6 by the adaptive pool
        dropout=0,
        classifier_activation=None,
    )
    kernel = model.get_layer("block3_conv2").kernel
    assert kernel[2, 0, 191, 5] == state["features.8.weight"][5, 191, 2, 0]
    x = pixels((1, 96, 96, 3))
    probe = keras.Model(model.inputs, [model.get_layer("flatten").input, model.output])
    feature_map, logits = (np.asarray(t) for t in probe(x))
    flat = feature_map.transpose(0, 3, 1, 2).reshape(1, -1)  # torch.flatten of (N, C, H, W)
    hidden = np.maximum(0, flat @ state["classifier.1.weight"].T + state["classifier.1.bias"])
    hidden = np.maximum(0, hidden @ state["classifier.4.weight"].T + state["classifier.4.bias"])
    expected = hidden @ state["classifier.6.weight"].T + state["classifier.6.bias"]
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_googlenet_needs_torchvisions_layout_and_gets_its_preprocessing(tmp_path):
    state = random_state("inception_v1")
    path = tmp_path / "googlenet.pth"
    write_checkpoint_zip(path, state)
    torchvision = {"batch_norm": True, "branch3x3_quirk": True, "pooling_layout": "torchvision"}
    with pytest.raises(WeightsError, match=r"trained with .*got pooling_layout='paper'"):
        create_model("inception_v1", weights=str(path), batch_norm=True, branch3x3_quirk=True)
    model = create_model(
        "inception_v1", weights=str(path), input_shape=(64, 64, 3), aux_logits=True, **torchvision
    )
    every_tensor_lands_once(model, state)
    assert model.get_layer("inception_4e_5x5_conv").kernel.shape == (3, 3, 32, 128)
    layer = model.get_layer("inception_3b_5x5_reduce_conv")
    assert layer.kernel[0, 0, 11, 2] == state["inception3b.branch3.0.conv.weight"][2, 11, 0, 0]
    preprocess = model.get_layer("preprocess")  # torchvision's transform_input: [-1, 1]
    assert preprocess.scale.tolist() == [2, 2, 2] and preprocess.offset.tolist() == [-1, -1, -1]
    # Without the auxiliary classifiers their weights are left in the file; a headless model
    # leaves fc too.
    headless = create_model(
        "inception_v1", weights=str(path), include_top=False, input_shape=(32, 32, 3), **torchvision
    )
    assert (
        headless.get_layer("conv1_conv").kernel[6, 0, 1, 63]
        == state["conv1.conv.weight"][63, 1, 6, 0]
    )


def test_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet34.safetensors"
    safetensors_numpy.save_file(random_state("resnet34"), str(path))
    with pytest.raises(WeightsError, match=r"no place for \(layer1\.2\."):
        create_model("resnet18", weights=str(path), input_shape=(32, 32, 3))


def test_another_class_count_keeps_a_fresh_head(tmp_path):
    state = random_state("resnet18")
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(state, str(path))
    model = create_model("resnet18", weights=str(path), input_shape=(32, 32, 3), classes=5)
    assert model.get_layer("fc").kernel.shape == (512, 5)
    kernel = model.get_layer("conv1_conv").kernel
    np.testing.assert_array_equal(kernel, state["conv1.weight"].transpose(2, 3, 1, 0))


# ---------------------------------------------------------------------------------------------
# keras.applications' .h5 layout


@pytest.fixture(scope="module")
def vgg16_h5(tmp_path_factory):
    reference = keras.applications.VGG16(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    path = tmp_path_factory.mktemp("vgg") / "vgg16_weights.h5"
    write_keras_h5(path, reference)
    return reference, path


def test_vgg16_from_keras_applications_h5(vgg16_h5):
    reference, path = vgg16_h5
    model = create_model(
        "vgg16",
        weights=str(path),
        input_shape=(32, 32, 3),
        classes=10,
        dropout=0,
        classifier_activation=None,
    )
    # Caffe's BGR order is folded into the first kernel; the rest is as in the file.
    first = reference.get_layer("block1_conv1").kernel
    np.testing.assert_array_equal(model.get_layer("block1_conv1").kernel, first[:, :, ::-1, :])
    for name in ("block3_conv2", "fc1", "fc2"):
        pairs = zip(model.get_layer(name).weights, reference.get_layer(name).weights, strict=True)
        for ours, theirs in pairs:
            np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        model.get_layer("fc3").kernel, reference.get_layer("predictions").kernel
    )
    x = pixels((2, 32, 32, 3))
    expected = reference(keras.applications.vgg16.preprocess_input(x * 255.0))
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # A headless model reads the same file's convolutions and leaves its top.
    headless = create_model("vgg16", weights=str(path), include_top=False, pooling="avg")
    np.testing.assert_array_equal(
        headless.get_layer("block5_conv3").kernel, reference.get_layer("block5_conv3").kernel
    )


@pytest.mark.slow  # two Inception V3s: ~20 s on 2 busy cores
def test_inception_v3_from_keras_applications_h5(tmp_path):
    reference = keras.applications.InceptionV3(
        weights=None, input_shape=(75, 75, 3), classes=10, classifier_activation=None
    )
    # Random BatchNorm statistics, so that a misplaced one shows.
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.normal(0, 0.1, beta.shape),
                    rng.normal(0, 0.1, mean.shape),
                    rng.uniform(0.5, 1.5, variance.shape),
                ]
            )
    path = tmp_path / "inception_v3_weights.h5"
    write_keras_h5(path, reference)
    model = create_model(
        "inception_v3",
        weights=str(path),
        input_shape=(75, 75, 3),
        classes=10,
        classifier_activation=None,
    )
    x = pixels((2, 75, 75, 3))
    expected = np.asarray(reference(x * 2 - 1))  # keras.applications' mode="tf"
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_array_equal(
        model.get_layer("fc").kernel, reference.get_layer("predictions").kernel
    )


# ---------------------------------------------------------------------------------------------
# weights="imagenet": arguments, downloads, cache


@pytest.mark.parametrize(
    "name,kwargs,match",
    [
        ("lenet5", {}, "no ImageNet weights are published for it"),
        ("vgg16", {"batch_norm": True}, r"trained with batch_norm=False; got batch_norm=True"),
        ("resnet18", {"stem": "small"}, r"trained with stem='imagenet'; got stem='small'"),
        (
            "inception_v1",
            {},
            r"batch_norm=True, branch3x3_quirk=True, pooling_layout='torchvision'",
        ),
        ("vgg16", {"input_shape": (64, 64, 3)}, r"ImageNet classifier takes 224x224 images"),
        ("resnet18", {"input_shape": (64, 64, 1)}, "take RGB images, 3 channels, got 1"),
    ],
)
def test_imagenet_arguments_are_checked_before_any_download(name, kwargs, match):
    with pytest.raises(WeightsError, match=match):
        create_model(name, weights="imagenet", **kwargs)


def test_foreign_layout_the_family_cannot_read(tmp_path):
    path = tmp_path / "resnet.h5"
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match=r"resnet18: cannot read keras.applications \.h5"):
        create_model("resnet18", weights=str(path))


@pytest.mark.parametrize(
    "name,url",
    [
        ("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ("resnet18", "huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors"),
        ("alexnet", "download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    ],
)
def test_offline_download_fails_fast_naming_the_file(tmp_path, monkeypatch, name, url):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERASCNN_OFFLINE", raising=False)  # the real attempt
    start = time.monotonic()
    with pytest.raises(WeightsError) as error:
        create_model(name, weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert time.monotonic() - start < 30
    message = str(error.value)
    assert "\n" not in message and url in message and str(tmp_path / "models") in message


def test_manual_download_in_the_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    state = random_state("resnet18")
    safetensors_numpy.save_file(state, str(tmp_path / "models" / "resnet18.tv_in1k.safetensors"))
    model = create_model("resnet18", weights="imagenet", input_shape=(32, 32, 3), classes=3)
    kernel = model.get_layer("conv2_block2_2_conv").kernel
    assert kernel[2, 1, 4, 9] == state["layer1.1.conv2.weight"][9, 4, 2, 1]
    assert model.get_layer("fc").kernel.shape == (512, 3)  # a fresh head for 3 classes


def test_torchvision_file_with_another_hash_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    fake = tmp_path / "models" / "alexnet-owt-7be5be79.pth"
    write_checkpoint_zip(fake, STATE)
    with pytest.raises(WeightsError, match="SHA-256 does not start with 7be5be79"):
        create_model("alexnet", weights="imagenet")
    assert not fake.exists()


def test_init_from_imagenet_is_checked_with_the_recipe():
    import dataclasses

    from kerascnn import recipes
    from kerascnn.config import ModelConfig, TransferConfig
    from kerascnn.training import transfer

    recipe = recipes.get("resnet18")
    imagenet = dataclasses.replace(recipe, transfer=TransferConfig(init_from="imagenet"))
    assert transfer.builder_arguments(imagenet)["weights"] == "imagenet"
    assert transfer.source_path("imagenet") is None
    small = dataclasses.replace(
        imagenet, model=ModelConfig(name="resnet18", args={"stem": "small"})
    )
    with pytest.raises(RecipeError, match=r"init_from 'imagenet': .*got stem='small'"):
        transfer.check_imagenet(small)
    lenet = dataclasses.replace(imagenet, model=ModelConfig(name="lenet5"))
    with pytest.raises(RecipeError, match="no ImageNet weights"):
        transfer.check_imagenet(lenet)


# ---------------------------------------------------------------------------------------------
# GoogLeNet's two pooling layouts


def test_googlenet_pooling_layouts():
    paper = create_model("inception_v1", aux_logits=True)
    torch_like = create_model("inception_v1", aux_logits=True, pooling_layout="torchvision")
    assert paper.get_layer("pool4").pool_size == (3, 3)
    assert torch_like.get_layer("pool4").pool_size == (2, 2)
    assert isinstance(paper.get_layer("aux1_pool"), keras.layers.AveragePooling2D)
    assert isinstance(torch_like.get_layer("aux1_pool"), keras.layers.AdaptiveAveragePooling2D)
    for name in ("inception_5b", "aux1_pool", "aux2_pool"):
        assert paper.get_layer(name).output.shape == torch_like.get_layer(name).output.shape
    assert paper.count_params() == torch_like.count_params()
    # torchvision's smallest input, 15x15 (its `min_size`), against the paper layout's 31.
    assert create_model("inception_v1", input_shape=(15, 15, 3), pooling_layout="torchvision")
    with pytest.raises(KerasCNNError, match="too small"):
        create_model("inception_v1", input_shape=(15, 15, 3))
    with pytest.raises(KerasCNNError, match="pooling_layout must be one of 'paper', 'torchvision'"):
        create_model("inception_v1", pooling_layout="caffe")


# ---------------------------------------------------------------------------------------------
# With torch and torchvision installed (the bench extra): logits against torchvision's models


@pytest.fixture(scope="module")
def torchvision():
    models = torchvision_models()
    if models is None:
        pytest.skip("needs torch and torchvision's model definitions (pip install -e '.[bench]')")
    return models


def test_recorded_key_names_are_torchvisions(torchvision):
    for family, keys in TORCHVISION_STATE_DICTS.items():
        state = torchvision_model(torchvision, family).state_dict()
        assert {k: list(v.shape) for k, v in state.items()} == keys, family


def test_torch_reads_our_checkpoint_and_we_read_torchs(tmp_path, torchvision):
    import torch

    ours = tmp_path / "ours.pth"
    write_checkpoint_zip(ours, STATE)
    loaded = torch.load(ours, weights_only=True)
    assert all(np.array_equal(loaded[k].numpy(), v) for k, v in STATE.items())
    tensors = {k: torch.tensor(v) for k, v in STATE.items()}
    tensors["t"] = torch.arange(12.0).reshape(3, 4).t()  # a strided view
    for zipped in (True, False):
        path = tmp_path / f"torch-{zipped}.pth"
        torch.save(tensors, path, _use_new_zipfile_serialization=zipped)
        read = pretrained.read_checkpoint(path)
        assert all(np.array_equal(read[k], v.numpy()) for k, v in tensors.items())


@pytest.mark.slow  # five networks built twice, in Keras and in torch (the bench extra)
@pytest.mark.parametrize(
    "family,size,kwargs",
    [
        ("resnet18", 64, {}),
        ("resnet34", 32, {}),
        ("resnet50", 32, {}),
        ("alexnet", 64, {}),
        (
            "inception_v1",
            64,
            {"batch_norm": True, "branch3x3_quirk": True, "pooling_layout": "torchvision"},
        ),
    ],
)
def test_logits_equal_torchvisions(tmp_path, torchvision, family, size, kwargs):
    import torch

    torch.manual_seed(0)
    net = torchvision_model(torchvision, family)
    state = random_state(family)
    net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    if family == "inception_v1":
        net.transform_input = True  # as torchvision's googlenet(weights=...) sets it
    path = tmp_path / f"{family}.pth"
    torch.save(net.state_dict(), path)
    model = create_model(
        family, weights=str(path), input_shape=(size, size, 3), classifier_activation=None, **kwargs
    )
    x = pixels((2, size, size, 3))
    with torch.no_grad():
        expected = net(torch.tensor(torch_input(x).transpose(0, 3, 1, 2))).numpy()
    ours = np.asarray(model(x))
    largest = np.abs(expected).max()
    assert np.abs(expected[0] - expected[1]).max() > 0.05 * largest  # the image matters
    assert np.abs(ours - expected).max() <= 1e-5 * largest
    if family == "inception_v1":
        paper = create_model(
            family,
            input_shape=(size, size, 3),
            classifier_activation=None,
            batch_norm=True,
            branch3x3_quirk=True,
        )
        paper.set_weights(model.get_weights())
        # The paper's pools give other logits with the same weights.
        assert np.abs(np.asarray(paper(x * 2 - 1)) - expected).max() > 0.05 * largest


@pytest.mark.parametrize("writer", [write_checkpoint_zip, write_checkpoint_legacy])
def test_every_damaged_checkpoint_is_one_clear_error(tmp_path, writer):
    """Truncated or overwritten anywhere, a checkpoint reads or fails with a WeightsError."""
    whole = tmp_path / "whole.pth"
    writer(whole, STATE)
    data = whole.read_bytes()
    rng = np.random.default_rng(0)
    damaged = tmp_path / "damaged.pth"
    for cut in range(0, len(data), max(1, len(data) // 60)):
        for version in (
            data[:cut],
            data[:cut] + bytes(rng.integers(0, 256, 16, np.uint8)) + data[cut + 16 :],
        ):
            damaged.write_bytes(version)
            try:
                pretrained.read_checkpoint(damaged)
            except WeightsError:
                pass
