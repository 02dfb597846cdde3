"""Weight files in the real formats, written by the tests themselves, for tests/test_weights.py.

- `write_keras_h5`: keras.applications' layout (Keras 2's `save_weights` to `.h5`: a `layer_names`
  attribute listing every layer, a group per layer whose `weight_names` attribute orders its
  arrays, stored under those names).
- `write_checkpoint_zip` / `write_checkpoint_legacy`: torch.save's zip format and the legacy format
  of older torchvision files, with a pickle written opcode by opcode (as torch writes it: an
  OrderedDict of `torch._utils._rebuild_tensor_v2` calls on persistent `torch.FloatStorage`
  storages), so they need no torch.
- `TORCHVISION_STATE_DICTS`: the key names and shapes of torchvision's state dicts (and so of the
  Hub's `timm/*.tv_in1k` safetensors, which keep them), recorded in
  tests/data/torchvision_state_dicts.json from torchvision's model definitions by
  `python tests/weight_files.py` (needs torch and torchvision).
- `torchvision_models()`: torchvision's model definitions, imported without torchvision's package
  `__init__` (whose C extension does not load with the CPU build of torch), or None.
"""

from __future__ import annotations

import importlib
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "torchvision_state_dicts.json"
TORCHVISION_STATE_DICTS = json.loads(DATA.read_text()) if DATA.exists() else {}
# torchvision's builder of each family, and the keyword arguments that give its ImageNet layout.
TORCHVISION_BUILDERS = {
    "resnet18": ("resnet", "resnet18", {}),
    "resnet34": ("resnet", "resnet34", {}),
    "resnet50": ("resnet", "resnet50", {}),
    "alexnet": ("alexnet", "alexnet", {}),
    "vgg16": ("vgg", "vgg16", {}),
    "inception_v1": (
        "googlenet",
        "googlenet",
        {"aux_logits": True, "init_weights": True, "transform_input": False},
    ),
}


def random_state(family, seed=0) -> dict[str, np.ndarray]:
    """Random float32 arrays under the real key names and shapes of `family`'s torchvision file,
    scaled so that the signal crosses the whole network (He's N(0, 2 / fan_in) kernels, BatchNorm
    scales near 1, variances positive) and the logits depend on the image; BatchNorm's step
    counters int64, as torch keeps them."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in TORCHVISION_STATE_DICTS[family].items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.asarray(7, np.int64)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("weight") and len(shape) > 1:
            state[key] = rng.normal(0, np.sqrt(2 / np.prod(shape[1:])), shape)
        elif key.endswith("weight"):  # BatchNorm's scale
            state[key] = rng.uniform(0.5, 1.5, shape)
        else:
            state[key] = rng.normal(0, 0.1, shape)
        state[key] = state[key].astype(state[key].dtype if key.endswith("tracked") else np.float32)
    return state


# ---------------------------------------------------------------------------------------------
# keras.applications' .h5 layout


def write_keras_h5(path, model) -> None:
    import h5py

    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = file.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, layer.get_weights(), strict=True):
                group.create_dataset(name, data=value)


# ---------------------------------------------------------------------------------------------
# torch checkpoints, written opcode by opcode


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(value):
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


_DTYPES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


def state_pickle(state, *, legacy=False) -> bytes:
    """torch.save's pickle of an OrderedDict of tensors (protocol 2); storage `i` is tensor `i`."""
    out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R("]
    for index, (key, array) in enumerate(state.items()):
        array = np.array(array, order="C")  # ascontiguousarray would make a scalar 1-d
        storage = [
            _text("storage"),
            _global("torch", _DTYPES[array.dtype]),
            _text(str(index)),
            _text("cpu"),
            _int(array.size),
        ]
        if legacy:
            storage.append(b"N")  # no view
        strides = [s // array.itemsize for s in array.strides]
        out += [
            _text(key),
            _global("torch._utils", "_rebuild_tensor_v2"),
            _tuple(
                [
                    _tuple(storage) + b"Q",  # BINPERSID
                    _int(0),
                    _tuple([_int(n) for n in array.shape]),
                    _tuple([_int(s) for s in strides]),
                    b"\x89",  # requires_grad False
                    _global("collections", "OrderedDict") + b")R",
                ]
            ),
            b"R",
        ]
    out += [b"u."]
    return b"".join(out)


def write_checkpoint_zip(path, state, *, root="archive", pickle_bytes=None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", pickle_bytes or state_pickle(state))
        archive.writestr(f"{root}/byteorder", "little")
        for index, array in enumerate(state.values()):
            archive.writestr(f"{root}/data/{index}", np.array(array, order="C").tobytes())
        archive.writestr(f"{root}/version", "3\n")


def write_checkpoint_legacy(path, state) -> None:
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4, "long": 8}}
    with open(path, "wb") as file:
        for value in (0x1950A86A20F9469CFC6C, 1001, info):
            pickle.dump(value, file, protocol=2)
        file.write(state_pickle(state, legacy=True))
        pickle.dump([str(i) for i in range(len(state))], file, protocol=2)
        for array in state.values():
            array = np.array(array, order="C")
            file.write(struct.pack("<q", array.size) + array.tobytes())


# ---------------------------------------------------------------------------------------------
# torchvision's model definitions, without torchvision's package __init__


def torchvision_models():
    """A namespace with torchvision's `resnet`, `alexnet`, `vgg` and `googlenet` modules, or None
    without torch and torchvision. Their files are imported under stand-in parent packages, since
    torchvision's own `__init__` loads a C extension that fails with the CPU build of torch."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        return None
    root = Path(spec.submodule_search_locations[0])
    saved = {
        n: m for n, m in sys.modules.items() if n == "torchvision" or n.startswith("torchvision.")
    }
    try:
        try:
            import torchvision.models as models

            return types.SimpleNamespace(
                **{m: getattr(models, m) for m in ("resnet", "alexnet", "vgg", "googlenet")}
            )
        except Exception:  # noqa: BLE001 - the C extension: fall back to the files alone
            for name in list(sys.modules):
                if name == "torchvision" or name.startswith("torchvision."):
                    del sys.modules[name]
        packages = {
            "torchvision": root,
            "torchvision.models": root / "models",
            "torchvision.transforms": root / "transforms",
        }
        for name, folder in packages.items():
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
        utils = types.ModuleType("torchvision.utils")
        utils._log_api_usage_once = lambda obj: None
        presets = types.ModuleType("torchvision.transforms._presets")
        presets.ImageClassification = object
        sys.modules["torchvision.utils"] = utils
        sys.modules["torchvision.transforms._presets"] = presets
        return types.SimpleNamespace(
            **{
                m: importlib.import_module(f"torchvision.models.{m}")
                for m in ("resnet", "alexnet", "vgg", "googlenet")
            }
        )
    except Exception:  # noqa: BLE001
        return None
    finally:
        for name in list(sys.modules):
            if name == "torchvision" or name.startswith("torchvision."):
                del sys.modules[name]
        sys.modules.update(saved)


def torchvision_model(models, family):
    """torchvision's model of `family` with its default random initialisation, in eval mode."""
    module, builder, kwargs = TORCHVISION_BUILDERS[family]
    return getattr(getattr(models, module), builder)(weights=None, **kwargs).eval()


if __name__ == "__main__":
    import torch

    torch.manual_seed(0)
    models = torchvision_models()
    record = {
        family: {
            k: list(v.shape) for k, v in torchvision_model(models, family).state_dict().items()
        }
        for family in TORCHVISION_BUILDERS
    }
    DATA.parent.mkdir(exist_ok=True)
    lines = [
        f"  {json.dumps(family)}: {{\n"
        + ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items())
        + "\n  }"
        for family, keys in record.items()
    ]
    DATA.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {DATA}: {', '.join(f'{f} ({len(k)} keys)' for f, k in record.items())}")
