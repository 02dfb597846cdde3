"""Pretrained weights: ImageNet's published files, fetched, read and converted into kerascnn's models.

The one module that knows foreign weight files. `weights=` of a builder takes:

- `"imagenet"`: the published ImageNet weights of the family (`IMAGENET`): keras.applications'
  `.h5` files for VGG-16, VGG-19 and Inception V3 (fetched with `keras.utils.get_file`, checked
  against their published MD5); torchvision's weights for ResNet-18/34/50 from the Hugging Face
  Hub as safetensors (`timm/resnet50.tv_in1k`, the conversion of torchvision's
  `resnet50-0676ba61.pth`; checked against the Hub's SHA-256 of the file), and torchvision's own
  `.pth` checkpoints for AlexNet and GoogLeNet (checked against the SHA-256 prefix in their names).
  Every file is cached under `~/.keras/models` (or `$KERAS_HOME/models`); a file saved there by
  hand under the name the error message gives is used without a network.
- the path of such a file, or of any file in one of these formats: a keras.applications-layout
  `.h5` (layers in order, each with its `weight_names`), a `.safetensors` or a torchvision
  checkpoint (`.pth`, `.pt`, `.bin`; zip or legacy format) with torchvision's key names.
- the path of a kerascnn `.weights.h5` or `.keras` file (`kerascnn.models.common.finish`).

A checkpoint is read by `read_checkpoint`, whose unpickler admits only what torch's own
`weights_only=True` needs for a state dict: `collections.OrderedDict`, torch's tensor-rebuild
functions and its storage types, which it rebuilds as NumPy arrays itself. Any other global
(a function to call, a class to make) stops the reading before anything runs; torch is not needed.

Weights and their preprocessing travel together: a model built with foreign weights starts with
`kerascnn.models.pixels.preprocess` for the convention they were trained with (`PREPROCESSING`),
so it keeps taking [0, 1] values like every kerascnn network.

With `include_top=True` and the weights' 1,000 classes the whole model loads; with another class
count, or `include_top=False`, the head (the layers `include_top=False` leaves out: `fc`, `fc1` ...
`fc3`, the auxiliary classifiers) keeps its fresh initialisation and everything else loads: the
starting point of transfer learning (`--init-from imagenet`).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import os
import pickle
import re
import socket
import struct
import zipfile
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlparse

import keras
import numpy as np

from kerascnn.errors import WeightsError
from kerascnn.models.pixels import preprocess

IMAGENET_CLASSES = 1000
# How long a download may wait for its server to answer before it counts as offline.
CONNECT_TIMEOUT = 5.0
HUB_HOST = "huggingface.co"

# ---------------------------------------------------------------------------------------------
# What each family's ImageNet weights are and where they come from


@dataclasses.dataclass(frozen=True)
class KerasFile:
    """A keras.applications weight file: its name, URL and published MD5."""

    name: str
    url: str
    md5: str


@dataclasses.dataclass(frozen=True)
class ImageNetWeights:
    """A family's published ImageNet weights.

    `origin`: "keras.applications" (`top`, `notop`: the two `.h5` files), "hub" (`repo`: a Hugging
    Face model repository holding torchvision's weights as `model.safetensors`) or "torchvision"
    (`url`, whose file name ends in the first hex digits of its SHA-256). `size`: the side the
    weights were evaluated at. `requires`: (argument, value) pairs of the builder arguments the
    weights were trained with.
    """

    origin: str
    size: int
    requires: tuple = (("stem", "imagenet"),)
    top: KerasFile | None = None
    notop: KerasFile | None = None
    repo: str | None = None
    url: str | None = None


_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications"


def _keras_files(folder, stem, md5_top, md5_notop):
    top = f"{stem}_weights_tf_dim_ordering_tf_kernels.h5"
    notop = f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return {
        "top": KerasFile(top, f"{_KERAS}/{folder}/{top}", md5_top),
        "notop": KerasFile(notop, f"{_KERAS}/{folder}/{notop}", md5_notop),
    }


# URLs and hashes as keras.applications (keras/src/applications/vgg16.py, vgg19.py,
# inception_v3.py), timm (models/resnet.py, `*.tv_in1k`) and torchvision (models/alexnet.py,
# googlenet.py) publish them.
IMAGENET = MappingProxyType(
    {
        "vgg16": ImageNetWeights(
            "keras.applications",
            224,
            requires=(("batch_norm", False),),
            **_keras_files(
                "vgg16",
                "vgg16",
                "64373286793e3c8b2b4e3219cbf3544b",
                "6d6bbae143d832006294945121d1f1fc",
            ),
        ),
        "vgg19": ImageNetWeights(
            "keras.applications",
            224,
            requires=(("batch_norm", False),),
            **_keras_files(
                "vgg19",
                "vgg19",
                "cbe5617147190e668d6c5d5026f83318",
                "253f8cb515780f3b799900260a226db6",
            ),
        ),
        "inception_v3": ImageNetWeights(
            "keras.applications",
            299,
            **_keras_files(
                "inception_v3",
                "inception_v3",
                "9a0d58056eeedaa3f26cb7ebd46da564",
                "bcbd6486424b2319ff4ef7d526e38f63",
            ),
        ),
        "resnet18": ImageNetWeights("hub", 224, repo="timm/resnet18.tv_in1k"),
        "resnet34": ImageNetWeights("hub", 224, repo="timm/resnet34.tv_in1k"),
        "resnet50": ImageNetWeights("hub", 224, repo="timm/resnet50.tv_in1k"),
        "alexnet": ImageNetWeights(
            "torchvision", 224, url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
        ),
        "inception_v1": ImageNetWeights(
            "torchvision",
            224,
            requires=(
                ("stem", "imagenet"),
                ("batch_norm", True),
                ("branch3x3_quirk", True),
                ("pooling_layout", "torchvision"),
            ),
            url="https://download.pytorch.org/models/googlenet-1378be20.pth",
        ),
    }
)

# The preprocessing each family's weights were trained with, by the layout of their file:
# keras.applications' (VGG: Caffe's BGR mean; Inception V3: [-1, 1]) or torchvision's (its mean
# and std; GoogLeNet's `transform_input` makes that [-1, 1]).
KERAS_PREPROCESSING = MappingProxyType(
    {
        "vgg11": "caffe",
        "vgg13": "caffe",
        "vgg16": "caffe",
        "vgg19": "caffe",
        "inception_v3": "inception",
    }
)
TORCH_PREPROCESSING = MappingProxyType(
    {
        "vgg11": "torch",
        "vgg13": "torch",
        "vgg16": "torch",
        "vgg19": "torch",
        "resnet18": "torch",
        "resnet34": "torch",
        "resnet50": "torch",
        "alexnet": "torch",
        "inception_v1": "inception",
    }
)

KERAS_H5, TORCH, NATIVE = "keras.applications .h5", "torchvision", "kerascnn"
TORCH_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# Our head layers: the classifiers `include_top=False` leaves out, in every family.
HEAD = re.compile(r"fc\d*|aux\d+_.+")


def layout_of(weights) -> str | None:
    """None (no weights), NATIVE (a kerascnn file), KERAS_H5 or TORCH (foreign layouts, which
    bring their preprocessing); `"imagenet"` is the layout of the family's published file."""
    if weights is None:
        return None
    path = str(weights)
    if path.endswith(".keras") or path.endswith(".weights.h5"):
        return NATIVE
    if path.endswith(".h5"):
        return KERAS_H5
    if path.endswith(TORCH_SUFFIXES):
        return TORCH
    return NATIVE


def _imagenet_layout(family):
    return KERAS_H5 if IMAGENET[family].origin == "keras.applications" else TORCH


def check(family: str, weights, *, include_top: bool, classes, arguments: dict) -> None:
    """Rejects `weights` that `family` cannot take, before anything is built: an unknown value,
    a missing file, a layout the family has no conversion for, or builder `arguments` other than
    those the weights were trained with."""
    if weights is None:
        return
    if weights == "imagenet":
        if family not in IMAGENET:
            raise WeightsError(
                f"{family}: no ImageNet weights are published for it; weights='imagenet' exists "
                f"for {', '.join(IMAGENET)}"
            )
        layout = _imagenet_layout(family)
    else:
        if not os.path.isfile(weights):
            raise WeightsError(
                f"{family}: weights must be None, 'imagenet' or the path of a weights file "
                "(.weights.h5 or .keras saved by kerascnn, a keras.applications .h5, "
                f".safetensors or a torchvision .pth), got {weights!r}, which is not a file"
            )
        layout = layout_of(weights)
    if layout == NATIVE:
        return
    known = KERAS_PREPROCESSING if layout == KERAS_H5 else TORCH_PREPROCESSING
    if family not in known:
        raise WeightsError(
            f"{family}: cannot read {layout} weights ({weights}); this family reads them in "
            f"{_layouts_of(family)}"
        )
    source = IMAGENET.get(family)
    requires = dict(source.requires) if source and _imagenet_layout(family) == layout else {}
    requires.setdefault("stem", "imagenet")
    wrong = {
        key: value
        for key, value in requires.items()
        if key in arguments and arguments[key] != value
    }
    if wrong:
        wanted = ", ".join(
            f"{key}={value!r}" for key, value in requires.items() if key in arguments
        )
        got = ", ".join(f"{key}={arguments[key]!r}" for key in wrong)
        raise WeightsError(f"{family}: {weights!r} weights were trained with {wanted}; got {got}")


def _layouts_of(family):
    layouts = [
        name
        for name, table in ((KERAS_H5, KERAS_PREPROCESSING), (TORCH, TORCH_PREPROCESSING))
        if family in table
    ]
    return " or ".join(layouts) + " layout" if layouts else "kerascnn's own files only"


def preprocessed(inputs, family: str, weights, *, include_top: bool, classes):
    """`inputs` behind the preprocessing that `weights` were trained with (none for kerascnn's
    own files, which load as they were saved). Pretrained weights need RGB images, and VGG's
    ImageNet classifier its 224x224 input (its fc1 reads the 7x7x512 map)."""
    layout = _imagenet_layout(family) if weights == "imagenet" else layout_of(weights)
    if layout in (None, NATIVE):
        return inputs
    channels = inputs.shape[-1]
    if channels != 3:
        raise WeightsError(
            f"{family}: {weights!r} weights take RGB images, 3 channels, got {channels}; convert "
            "the images to RGB (in a run: --set 'data.image_shape=(64, 64, 3)' repeats a grey "
            "channel)"
        )
    size = IMAGENET[family].size if family in IMAGENET else None
    with_head = include_top and classes == IMAGENET_CLASSES
    if (
        weights == "imagenet"
        and family.startswith("vgg")
        and with_head
        and tuple(inputs.shape[1:3]) != (size, size)
    ):
        raise WeightsError(
            f"{family}: its ImageNet classifier takes {size}x{size} images, got input "
            f"{tuple(inputs.shape[1:])}; pass input_shape=({size}, {size}, 3), or "
            "include_top=False (or another class count, for a fresh classifier)"
        )
    table = KERAS_PREPROCESSING if layout == KERAS_H5 else TORCH_PREPROCESSING
    return preprocess(inputs, table[family])


def load(model: keras.Model, family: str, weights, *, include_top: bool, classes) -> None:
    """Loads foreign `weights` ("imagenet" or a file in a foreign layout) into `model`, built by
    the builder of `family`. The head loads with `include_top` and the file's class count (1,000
    for "imagenet"); otherwise it stays fresh (and a keras.applications `_notop` file has none)."""
    if weights == "imagenet":
        with_head = include_top and classes == IMAGENET_CLASSES
        path = fetch(family, with_head=with_head)
        layout = _imagenet_layout(family)
    else:
        path, layout = Path(weights), layout_of(weights)
    if layout == KERAS_H5:
        found = read_keras_h5(path)
        backbone, _ = _split_head(model)
        file_head = found[len(backbone) :]
        file_classes = file_head[-1][1][-1].shape[-1] if file_head else None
        with_head = include_top and classes == file_classes
        _load_keras_h5(model, family, found, with_head=with_head, path=path)
    else:
        state = read_safetensors(path) if path.suffix == ".safetensors" else read_checkpoint(path)
        bias = next((state[k] for k in ("fc.bias", "classifier.6.bias") if k in state), None)
        with_head = include_top and bias is not None and classes == bias.shape[-1]
        _load_torch(model, family, state, with_head=with_head, path=path)


# ---------------------------------------------------------------------------------------------
# Fetching


def cache_dir() -> Path:
    """Where keras.utils.get_file keeps downloaded models: `$KERAS_HOME/models`, `~/.keras/models`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _offline_error(family, url, target, reason):
    return WeightsError(
        f"{family}: cannot download its ImageNet weights ({reason}); fetch {url} and save it as "
        f"{target}, or pass weights= the path of that file"
    )


def _reachable(family, url, target) -> None:
    """Fails in seconds, with what to fetch and where to put it, when `url`'s host cannot be
    reached (downloaders retry for minutes)."""
    host = urlparse(url).hostname
    # The switch that keeps kerascnn's dataset loading offline (kerascnn.data.sources) too.
    if os.environ.get("KERASCNN_OFFLINE"):
        raise _offline_error(family, url, target, "KERASCNN_OFFLINE is set")
    if os.environ.get("HF_HUB_OFFLINE") and host == HUB_HOST:
        raise _offline_error(family, url, target, "HF_HUB_OFFLINE is set")
    try:
        socket.create_connection((host, 443), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise _offline_error(family, url, target, f"{host} unreachable: {error}") from None


def hub_url(repo: str, filename: str = "model.safetensors") -> str:
    return f"https://{HUB_HOST}/{repo}/resolve/main/{filename}"


def fetch(family: str, *, with_head: bool = True) -> Path:
    """The local path of `family`'s ImageNet weights, downloaded (with a progress bar) and
    verified the first time, from the cache afterwards."""
    source = IMAGENET[family]
    folder = cache_dir()
    if source.origin == "keras.applications":
        file = source.top if with_head else source.notop
        target = folder / file.name
        if not target.is_file():
            _reachable(family, file.url, target)
        try:
            return Path(
                keras.utils.get_file(
                    file.name,
                    file.url,
                    file_hash=file.md5,
                    cache_subdir="models",
                    cache_dir=str(folder.parent),
                )
            )
        except Exception as error:  # noqa: BLE001 - get_file raises bare Exceptions
            raise _offline_error(family, file.url, target, _first_line(error)) from None
    if source.origin == "hub":
        return _fetch_from_hub(family, source.repo, folder)
    name = source.url.rsplit("/", 1)[1]
    target = folder / name
    if not target.is_file():
        _reachable(family, source.url, target)
    try:
        path = Path(
            keras.utils.get_file(
                name, source.url, cache_subdir="models", cache_dir=str(folder.parent)
            )
        )
    except Exception as error:  # noqa: BLE001
        raise _offline_error(family, source.url, target, _first_line(error)) from None
    prefix = name.rsplit("-", 1)[1].split(".")[0]
    if not _sha256(path).startswith(prefix):
        path.unlink()
        raise WeightsError(
            f"{family}: {path} is not torchvision's file (its SHA-256 does not start with "
            f"{prefix}); it was removed, try again"
        )
    return path


def _fetch_from_hub(family, repo, folder) -> Path:
    """A Hub file: one saved by hand as `<repo name>.safetensors` in the cache folder, else the Hub's
    own cache, else a download verified against the SHA-256 the Hub gives for it."""
    url = hub_url(repo)
    manual = folder / f"{repo.split('/')[-1]}.safetensors"
    if manual.is_file():
        return manual
    try:
        import huggingface_hub
    except ImportError:
        raise WeightsError(
            f"{family}: its ImageNet weights come from the Hugging Face Hub ({repo}), which needs "
            "huggingface_hub: pip install 'kerascnn[weights]'; or fetch "
            f"{url} and save it as {manual}"
        ) from None
    try:
        return Path(
            huggingface_hub.hf_hub_download(repo, "model.safetensors", local_files_only=True)
        )
    except Exception:  # noqa: BLE001 - not cached: download it
        pass
    _reachable(family, url, manual)
    try:
        path = Path(huggingface_hub.hf_hub_download(repo, "model.safetensors"))
    except Exception as error:  # noqa: BLE001
        raise _offline_error(family, url, manual, _first_line(error)) from None
    blob = path.resolve()
    if re.fullmatch(r"[0-9a-f]{64}", blob.name) and _sha256(blob) != blob.name:
        blob.unlink()
        raise WeightsError(
            f"{family}: the file downloaded from {url} does not have the SHA-256 the Hub gives for "
            "it; it was removed, try again"
        )
    return path


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------
# Reading: keras.applications .h5, safetensors, torch checkpoints


def read_keras_h5(path) -> list[tuple[str, list[np.ndarray]]]:
    """The layers with weights of a keras.applications-layout `.h5` file, in the file's order:
    (layer name, its arrays in `weight_names` order), as Keras' legacy loader reads them."""
    import h5py

    def names(group, attribute):
        if attribute in group.attrs:
            values = list(group.attrs[attribute])
        else:
            values, index = [], 0
            while f"{attribute}{index}" in group.attrs:
                values += list(group.attrs[f"{attribute}{index}"])
                index += 1
        return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]

    try:
        with h5py.File(path, "r") as file:
            group = file["model_weights"] if "model_weights" in file else file
            layers = names(group, "layer_names")
            if not layers:
                raise WeightsError(
                    f"{path} is not a keras.applications-layout .h5 file (no layer_names); "
                    "a file saved by kerascnn or Keras 3 ends in .weights.h5"
                )
            found = []
            for layer in layers:
                arrays = [np.asarray(group[layer][w]) for w in names(group[layer], "weight_names")]
                if arrays:
                    found.append((layer, arrays))
            return found
    except OSError as error:
        raise WeightsError(f"cannot read {path} as an HDF5 file: {_first_line(error)}") from None


def read_safetensors(path) -> dict[str, np.ndarray]:
    """A `.safetensors` file as NumPy arrays (the `safetensors` package)."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise WeightsError(
            f"reading {path} needs the safetensors package: pip install 'kerascnn[weights]'"
        ) from None
    try:
        return load_file(str(path))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise WeightsError(f"cannot read {path} as safetensors: {_first_line(error)}") from None


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """A torch storage class (`torch.FloatStorage` ...), known by the dtype of its elements."""

    name: str
    dtype: str


# torch's typed storages as checkpoints name them (torch/storage.py), and the NumPy dtype of
# their elements; bfloat16 is read as its 16 bits and widened to float32.
_STORAGES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _Storage:
    """A storage's elements; filled when its bytes are read."""

    def __init__(self, storage_type: _StorageType, numel: int):
        self.dtype, self.numel, self.array = storage_type.dtype, numel, None

    def fill(self, data: bytes, big_endian=False):
        itemsize = 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize
        if len(data) < self.numel * itemsize:
            raise WeightsError(
                f"a storage holds {len(data)} bytes where its {self.numel} elements need "
                f"{self.numel * itemsize}"
            )
        if self.dtype == "bfloat16":
            bits = np.frombuffer(data, ">u2" if big_endian else "<u2", self.numel)
            self.array = (bits.astype(np.uint32) << 16).view(np.float32)
        else:
            dtype = np.dtype(self.dtype)
            if big_endian:
                dtype = dtype.newbyteorder(">")
            self.array = np.frombuffer(data, dtype, self.numel).astype(dtype.newbyteorder("="))


@dataclasses.dataclass
class _Tensor:
    """A tensor to rebuild once its storage is read: `size` elements `stride` apart from `offset`."""

    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        size, stride = tuple(self.size), tuple(self.stride)
        values = self.storage.array
        if len(size) != len(stride) or any(
            not isinstance(n, int) or n < 0 for n in (*size, *stride, self.offset)
        ):
            raise WeightsError(f"a tensor has a bad size {size} or stride {stride}")
        if 0 in size:
            return np.zeros(size, values.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= len(values):
            raise WeightsError(
                f"a tensor of size {size} reaches element {last} of a storage of {len(values)}"
            )
        view = np.lib.stride_tricks.as_strided(
            values[self.offset :],
            shape=size,
            strides=[s * values.itemsize for s in stride],
            writeable=False,
        )
        return np.array(view).reshape(size)  # as_strided reads shape () as "keep the shape"


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """torch._utils._rebuild_tensor(_v2): a tensor's view of its storage (the rest of the
    arguments, requires_grad, backward hooks and metadata, mean nothing to an array)."""
    if not isinstance(storage, _Storage):
        raise WeightsError("a tensor is rebuilt from something that is not a storage")
    return _Tensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    """torch._utils._rebuild_parameter(_with_state): an nn.Parameter is its tensor."""
    return data


# What the unpickler lets a checkpoint name: the subset of torch's `weights_only=True` allowlist
# (torch/_weights_only_unpickler.py) that a state dict of tensors needs.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch checkpoint's data without torch, admitting only `_ALLOWED` globals;
    `storage(key, storage_type, numel)` gives the storage a persistent id names."""

    def __init__(self, file, storage, source):
        super().__init__(file)
        self._storage, self._source = storage, source

    def find_class(self, module, name):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise WeightsError(
                f"{self._source} asks to load {module}.{name}, which is not part of a torch "
                "state dict; refused (only tensors, their storages and OrderedDict are read)"
            )
        return allowed

    def persistent_load(self, pid):
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
            or not isinstance(pid[2], str)
            or not isinstance(pid[4], int)
            or pid[4] < 0
        ):
            raise WeightsError(f"{self._source} has a persistent id that is not a storage: {pid!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise WeightsError(f"{self._source} holds storage views, which are not supported")
        return self._storage(pid[2], pid[1], pid[4])


def _unpickle(data: bytes, storage, source):
    try:
        return _RestrictedUnpickler(io.BytesIO(data), storage, source).load()
    except WeightsError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged pickle raises many kinds
        raise WeightsError(f"cannot read {source}: {_first_line(error)}") from None


# torch.serialization's magic number and protocol of the legacy (before 1.6) format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def read_checkpoint(path) -> dict[str, np.ndarray]:
    """A torch checkpoint holding a state dict (torch.save's zip format, or the legacy format of
    older torchvision files) as NumPy arrays, without torch and without running its pickle."""
    path = Path(path)
    storages: dict[str, _Storage] = {}

    def storage(key, storage_type, numel):
        if key not in storages:
            storages[key] = _Storage(storage_type, numel)
        return storages[key]

    try:
        if zipfile.is_zipfile(path):
            result = _read_zip(path, storage, storages)
        else:
            result = _read_legacy(path, storage, storages)
    except WeightsError:
        raise
    except Exception as error:  # noqa: BLE001 - zipfile alone raises a dozen kinds on damage
        raise WeightsError(f"cannot read {path}: {_first_line(error)}") from None
    return _state_dict(result, path)


def _read_zip(path, storage, storages):
    """torch.save's zip format: `<root>/data.pkl`, each storage's bytes in `<root>/data/<key>`."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pickles) != 1:
            raise WeightsError(f"{path} is a zip file but not a torch checkpoint (no data.pkl)")
        root = pickles[0].rsplit("/", 1)[0]
        result = _unpickle(archive.read(pickles[0]), storage, path)
        big = f"{root}/byteorder" in archive.namelist() and (
            archive.read(f"{root}/byteorder").strip() == b"big"
        )
        for key, value in storages.items():
            try:
                value.fill(archive.read(f"{root}/data/{key}"), big_endian=big)
            except KeyError:
                raise WeightsError(f"{path} lacks the data of storage {key}") from None
    return result


def _read_legacy(path, storage, storages):
    """torch.save's legacy format: pickles of the magic number, protocol and system info, the
    data, the storage keys, then each storage's element count (int64) and bytes."""
    with open(path, "rb") as file:

        def plain():
            return _unpickle_stream(file, path)

        try:
            if plain() != _LEGACY_MAGIC or plain() != _LEGACY_PROTOCOL:
                raise WeightsError(f"{path} is not a torch checkpoint (zip or legacy format)")
        except WeightsError as error:
            if "not a torch" in str(error):
                raise
            raise WeightsError(f"{path} is not a torch checkpoint (zip or legacy format)") from None
        info = plain()
        little = not isinstance(info, dict) or info.get("little_endian", True)
        unpickler = _RestrictedUnpickler(file, storage, path)
        try:
            result = unpickler.load()
        except WeightsError:
            raise
        except Exception as error:  # noqa: BLE001
            raise WeightsError(f"cannot read {path}: {_first_line(error)}") from None
        keys = plain()
        if not isinstance(keys, list) or set(keys) != set(storages):
            raise WeightsError(f"{path}: its storage keys do not match its tensors")
        for key in keys:
            header = file.read(8)
            if len(header) != 8:
                raise WeightsError(f"{path} ends before the data of storage {key}")
            (numel,) = struct.unpack("<q" if little else ">q", header)
            value = storages[key]
            itemsize = 2 if value.dtype == "bfloat16" else np.dtype(value.dtype).itemsize
            if numel != value.numel:
                raise WeightsError(
                    f"{path}: storage {key} holds {numel} elements, not {value.numel}"
                )
            value.fill(file.read(numel * itemsize), big_endian=not little)
    return result


class _PlainUnpickler(pickle.Unpickler):
    """Plain values only (numbers, strings, dicts, lists): no global is admitted."""

    def find_class(self, module, name):
        raise WeightsError(f"refused to load {module}.{name} from a checkpoint header")


def _unpickle_stream(file, source):
    try:
        return _PlainUnpickler(file).load()
    except WeightsError:
        raise
    except Exception as error:  # noqa: BLE001
        raise WeightsError(f"cannot read {source}: {_first_line(error)}") from None


def _state_dict(result, path) -> dict[str, np.ndarray]:
    """The name -> array mapping of an unpickled checkpoint (a state dict, or one under
    "state_dict" / "model")."""
    if isinstance(result, dict):
        for key in ("state_dict", "model"):
            if isinstance(result.get(key), dict):
                result = result[key]
                break
    if not isinstance(result, dict) or not all(
        isinstance(k, str) and isinstance(v, _Tensor) for k, v in result.items()
    ):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return {key: tensor.array() for key, tensor in result.items()}


# ---------------------------------------------------------------------------------------------
# Converting: which of our layers each weight of a foreign file belongs to


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def _split_head(model):
    layers = _weighted_layers(model)
    return (
        [layer for layer in layers if not HEAD.fullmatch(layer.name)],
        [layer for layer in layers if HEAD.fullmatch(layer.name)],
    )


def _set(layer, arrays, source):
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
        raise WeightsError(
            f"{layer.name}: {source} has weights of shapes {got} where the model has {expected}; "
            "build the model with the weights' architecture, input size and classes"
        )
    layer.set_weights(arrays)


def _load_keras_h5(model, family, found, *, with_head, path):
    """keras.applications' files, layer by layer in order (its layer names differ from ours in
    Inception V3), the head after the backbone; the first convolution of a Caffe-preprocessed VGG
    gets its input channels reversed, from BGR to RGB."""
    backbone, head = _split_head(model)
    file_head = found[len(backbone) :]
    if len(found) < len(backbone) or (with_head and len(file_head) != len(head)):
        lacks = "its top (a _notop file)" if len(found) == len(backbone) else "layers"
        raise WeightsError(
            f"{family}: {path} has {len(found)} layers with weights where the model needs "
            f"{len(backbone) + (len(head) if with_head else 0)} ({'it lacks ' + lacks}); build the "
            "model with include_top=False, or another class count for a fresh head"
        )
    pairs = list(zip(backbone, found, strict=False))
    if with_head:
        pairs += list(zip(head, file_head, strict=True))
    for index, (layer, (name, arrays)) in enumerate(pairs):
        if index == 0 and KERAS_PREPROCESSING.get(family) == "caffe":
            arrays = [arrays[0][:, :, ::-1, :], *arrays[1:]]
        _set(layer, arrays, f"{path} (layer {name})")


def _conv(array):
    """torch's (out, in, h, w) kernel -> Keras' (h, w, in, out)."""
    return array.transpose(2, 3, 1, 0)


def _dense(array, flattened=None):
    """torch's (out, in) matrix -> Keras' (in, out). After a flatten of an (h, w, c) map the inputs
    are reordered from torch's channel-first flattening to Keras' channel-last one."""
    if flattened is None:
        return array.T
    h, w, c = flattened
    return array.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)


def _torch_names(family, model) -> dict[str, str]:
    """Our layer name -> the torchvision module name of its weights, for `family`."""
    names = {}
    for layer in _weighted_layers(model):
        theirs = _TORCH_NAMERS[_family_kind(family)](layer.name, family)
        if theirs is None:
            raise WeightsError(f"{family}: no torchvision weight corresponds to layer {layer.name}")
        names[layer.name] = theirs
    return names


def _family_kind(family):
    return re.sub(r"\d+$", "", family) if family.startswith(("vgg", "resnet")) else family


def _resnet_name(name, family):
    if name in ("conv1_conv", "conv1_bn"):
        return "conv1" if name.endswith("conv") else "bn1"
    if name == "fc":
        return "fc"
    match = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", name)
    if not match:
        return None
    stage, block, index, kind = int(match[1]), int(match[2]), int(match[3]), match[4]
    module = f"layer{stage - 1}.{block - 1}."
    if index == 0:
        return module + ("downsample.0" if kind == "conv" else "downsample.1")
    return module + f"{kind}{index}"


_GOOGLENET_STEM = {"conv1": "conv1", "conv2_reduce": "conv2", "conv2": "conv3"}
_GOOGLENET_BRANCHES = {
    "1x1": "branch1",
    "3x3_reduce": "branch2.0",
    "3x3": "branch2.1",
    "5x5_reduce": "branch3.0",
    "5x5": "branch3.1",
    "pool_proj": "branch4.1",
}


def _googlenet_name(name, family):
    if name == "fc" or re.fullmatch(r"aux\d_fc\d", name):
        return name.replace("_", ".")
    match = re.fullmatch(r"(.+)_(conv|bn)", name)
    if not match:
        return None
    unit, kind = match[1], match[2]
    if unit in _GOOGLENET_STEM:
        return f"{_GOOGLENET_STEM[unit]}.{kind}"
    aux = re.fullmatch(r"aux(\d)_proj", unit)
    if aux:
        return f"aux{aux[1]}.conv.{kind}"
    module = re.fullmatch(r"inception_(\d[a-e])_(.+)", unit)
    if module and module[2] in _GOOGLENET_BRANCHES:
        return f"inception{module[1]}.{_GOOGLENET_BRANCHES[module[2]]}.{kind}"
    return None


_ALEXNET = {
    "block1_conv1": "features.0",
    "block2_conv1": "features.3",
    "block3_conv1": "features.6",
    "block3_conv2": "features.8",
    "block3_conv3": "features.10",
    "fc1": "classifier.1",
    "fc2": "classifier.4",
    "fc3": "classifier.6",
}


def _vgg_name(name, family):
    from kerascnn.models.vgg import CONFIGS

    if name in ("fc1", "fc2", "fc3"):
        return f"classifier.{3 * (int(name[2]) - 1)}"
    match = re.fullmatch(r"block(\d)_conv(\d)", name)
    if not match:
        return None
    block, conv = int(match[1]), int(match[2])
    # torchvision's `features`: each convolution is followed by its ReLU, each block by a pool.
    index = sum(2 * n + 1 for n in CONFIGS[family][: block - 1]) + 2 * (conv - 1)
    return f"features.{index}"


_TORCH_NAMERS = {
    "resnet": _resnet_name,
    "inception_v1": _googlenet_name,
    "alexnet": lambda name, family: _ALEXNET.get(name),
    "vgg": _vgg_name,
}
# The flatten in front of a dense layer whose torch inputs are a flattened (c, h, w) map.
_FLATTENED = {"fc1": "flatten", "aux1_fc1": "aux1_flatten", "aux2_fc1": "aux2_flatten"}


def _torch_arrays(model, layer, prefix, state, used, family):
    def take(suffix):
        key = f"{prefix}.{suffix}"
        if key not in state:
            raise WeightsError(
                f"{family}: the file has no {key} for layer {layer.name}; is it another "
                "architecture?"
            )
        used.add(key)
        return np.asarray(state[key], np.float32)

    if isinstance(layer, keras.layers.Conv2D):
        arrays = [_conv(take("weight"))]
    elif isinstance(layer, keras.layers.Dense):
        flattened = None
        if _family_kind(family) != "resnet" and layer.name in _FLATTENED:
            flatten = model.get_layer(_FLATTENED[layer.name])
            flattened = tuple(flatten.input.shape[1:])
        arrays = [_dense(take("weight"), flattened)]
    elif isinstance(layer, keras.layers.BatchNormalization):
        arrays = ([take("weight")] if layer.scale else []) + (
            [take("bias")] if layer.center else []
        )
        return arrays + [take("running_mean"), take("running_var")]
    else:
        raise WeightsError(f"{family}: no conversion for layer {layer.name}")
    if layer.use_bias:
        arrays.append(take("bias"))
    return arrays


def _load_torch(model, family, state, *, with_head, path):
    """A torchvision-named state dict (a .pth, or the Hub's safetensors of it) into `model`."""
    backbone, head = _split_head(model)
    names = _torch_names(family, model)
    used = set()
    for layer in backbone + (head if with_head else []):
        arrays = _torch_arrays(model, layer, names[layer.name], state, used, family)
        _set(layer, arrays, f"{path} ({names[layer.name]})")
    # Left over: BatchNorm's step counters, and the head and auxiliary classifiers the model
    # does not load; anything else belongs to another architecture.
    heads = ("fc.", "classifier.", "aux1.", "aux2.")
    unused = [
        key
        for key in state
        if key not in used
        and not key.endswith("num_batches_tracked")
        and not (key.startswith(heads) and not with_head)
        and not (key.startswith(("aux1.", "aux2.")) and not any(n.startswith("aux") for n in names))
    ]
    if unused:
        raise WeightsError(
            f"{family}: {path} holds weights the model has no place for ({', '.join(unused[:3])}"
            f"{' ...' if len(unused) > 3 else ''}); is it another architecture or variant?"
        )
