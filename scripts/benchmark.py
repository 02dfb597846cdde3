"""Throughput: training and inference images/s of every registered classifier at its recipe's settings,
and of the input pipeline alone, with and without augmentation, measured side by side in one run.

    python scripts/benchmark.py                       # every classifier recipe
    python scripts/benchmark.py deep_mnist mnist_fast --steps 50
    python scripts/benchmark.py deep_mnist --steps 60 --rounds 6   # the README's figures

Each model trains on random images of its recipe's input shape for `--steps` steps after a warm-up
(graph tracing), with the recipe's batch size, precision and steps_per_execution; inference is
`predict` on as many images. Training is timed inside `fit`, from the end of the warm-up steps to the
end of the last step: what `fit` does once per call (making the data iterator, tearing it down, which
here took up to a second at random) is not a training speed. The pipeline rows iterate the recipe's
TrainingStream over the bundled MNIST sample (or --data-dir) without augmentation and with each
`digits` preset. The augmentation rows train one `deep_mnist` model on batches without and with
augmentation, alternated `--rounds` times, and give the median of the per-round ratios (and their
range): the share of training speed augmentation keeps. Timings on shared machines are noisy:
compare the ratios printed here, not figures from different runs.
"""

from __future__ import annotations

import argparse
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kerascnn import recipes
from kerascnn.data import TrainingStream, create_augmentation, load_dataset
from kerascnn.recipes import DataConfig
from kerascnn.registry import models
from kerascnn.training.runtime import precision_policy, resolve_precision
from kerascnn.training.tasks import task_of


def classifier_recipes() -> list[str]:
    return [
        name
        for name in recipes.list_recipes()
        if not recipes.get(name).members
        and models.metadata(recipes.get(name).model.name)["task"] == "classification"
    ]


class TrainingClock(keras.callbacks.Callback):
    """Times the steps of one `fit` after the first `warm` (tracing, the iterator's start) and up to
    the end of the last, leaving out what `fit` does before and after."""

    def __init__(self, warm: int):
        super().__init__()
        self.warm = warm
        self.started = self.first_step = None

    def on_train_batch_end(self, batch, logs=None):
        if self.started is None and batch + 1 >= self.warm:
            self.started, self.first_step = time.perf_counter(), batch + 1

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.started


def timed_fit(model, data, steps: int, recipe) -> float:
    """Images/s of `steps` training steps of `model` on `data`, after a warm-up."""
    warm = max(2, recipe.steps_per_execution)
    clock = TrainingClock(warm)
    model.fit(
        data, steps_per_epoch=warm + steps, epochs=1, verbose=0, shuffle=False, callbacks=[clock]
    )
    return (warm + steps - clock.first_step) * recipe.batch_size / clock.seconds


def random_batches(recipe, info, augmentation=None):
    """Endless batches of `recipe`'s size of random images of `info`'s shape (held in memory),
    augmented as the TrainingStream augments: in parallel, ahead of training."""
    rng = np.random.default_rng(0)
    batch = recipe.batch_size
    images = rng.integers(0, 256, (batch * 4, *info.image_shape)).astype(np.float32)
    labels = rng.integers(0, info.num_classes, batch * 4)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch)
    if augmentation is not None:
        data = data.map(
            lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return data.prefetch(tf.data.AUTOTUNE), images


def train_rate(recipe, steps: int, data, *, repeats: int = 3) -> tuple[float, float]:
    """(training images/s, inference images/s) of `recipe`'s model on random images of `data`'s
    shape."""
    with precision_policy(recipe.precision):
        model = task_of(recipe).build(recipe, data)
        batches, images = random_batches(recipe, data.info)
        batches = task_of(recipe).fit_data(model, batches, recipe)
        # The median, against the noise of a shared machine.
        training = float(
            np.median([timed_fit(model, batches, steps, recipe) for _ in range(repeats)])
        )
        batch = recipe.batch_size
        model.predict(images[:batch], batch_size=batch, verbose=0)
        started = time.perf_counter()
        model.predict(np.concatenate([images] * max(1, steps // 4)), batch_size=batch, verbose=0)
        inference = len(images) * max(1, steps // 4) / (time.perf_counter() - started)
    return training, inference


def augmentation_kept(recipe, data, presets: dict, *, steps: int, rounds: int) -> dict:
    """For each augmentation in `presets`: the per-round ratios of training images/s with it to
    images/s without, one model trained on each kind of batch in turn, the order rotated by round."""
    with precision_policy(recipe.precision):
        model = task_of(recipe).build(recipe, data)
        feeds = {
            name: random_batches(recipe, data.info, layer)[0] for name, layer in presets.items()
        }
        feeds["none"] = random_batches(recipe, data.info)[0]
        names = list(feeds)
        ratios = {name: [] for name in presets}
        for round_ in range(rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            rates = {name: timed_fit(model, feeds[name], steps, recipe) for name in order}
            for name in presets:
                ratios[name].append(rates[name] / rates["none"])
    return ratios


def pytorch_deep_mnist(classes: int = 10):
    """The book's DeepConvNet in PyTorch, layer for layer as `deep_mnist_cnn` (123,552 parameters)."""
    from torch import nn

    def conv(inputs, outputs, padding):
        layer = nn.Conv2d(inputs, outputs, 3, padding=padding)
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
        return [layer, nn.ReLU()]

    return nn.Sequential(
        *conv(1, 16, 1), *conv(16, 16, 1), nn.MaxPool2d(2),
        *conv(16, 32, 1), *conv(32, 32, 2), nn.MaxPool2d(2),
        *conv(32, 64, 1), *conv(64, 64, 1), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(50, classes), nn.Dropout(0.5),
    )  # fmt: skip


def pytorch_rate(batch: int, steps: int, *, bfloat16: bool = False, repeats: int = 3) -> float:
    """Training images/s of a plain PyTorch eager loop (Adam 1e-3, cross-entropy) over
    `pytorch_deep_mnist` on random images held in memory, as a PyTorch user would write it;
    `bfloat16` wraps the forward pass in CPU autocast."""
    import torch

    torch.manual_seed(0)
    model = pytorch_deep_mnist()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    images = torch.tensor(rng.uniform(0, 1, (batch * 4, 1, 28, 28)).astype(np.float32))
    labels = torch.tensor(rng.integers(0, 10, batch * 4))

    def train(count: int) -> None:
        model.train()
        for step in range(count):
            start = (step % 4) * batch
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                loss = loss_fn(model(images[start : start + batch]), labels[start : start + batch])
            loss.backward()
            optimizer.step()

    train(3)  # warm-up
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        train(steps)
        rates.append(steps * batch / (time.perf_counter() - started))
    return float(np.median(rates))


def pipeline_rate(data, batch_size: int, augmentation) -> float:
    stream = TrainingStream(data.train, batch_size=batch_size, seed=0, augmentation=augmentation)
    for _ in stream.dataset().take(2):
        pass
    stream.start_epoch(1)
    started = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in stream.dataset())
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="recipes (default: every classifier recipe)")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (default 30)")
    parser.add_argument("--data-dir", help="IDX files for the pipeline rows (default: the sample)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per figure, the median (default 3)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternations of compared rows (default 2): the PyTorch rows take the best of each, "
        "the augmentation rows the median ratio",
    )
    args = parser.parse_args()
    names = args.names or classifier_recipes()
    print(
        f"{'recipe':<14} {'model':<16} {'batch':>5} {'precision':<15} {'train img/s':>12} {'infer img/s':>12}"
    )
    for name in names:
        recipe = recipes.get(name)
        data = load_dataset(
            recipes.resolve(recipe, {"data.train_limit": 8, "data.test_limit": 8}).data
        )
        training, inference = train_rate(recipe, args.steps, data, repeats=args.repeats)
        print(
            f"{name:<14} {recipe.model.name:<16} {recipe.batch_size:>5} {recipe.precision:<15} "
            f"{training:>12.0f} {inference:>12.0f}",
            flush=True,
        )
    sample = load_dataset(DataConfig(name="mnist_sample", data_dir=args.data_dir))
    presets = {
        name: create_augmentation(name, image_shape=sample.info.image_shape, seed=0)
        for name in ("digits", "digits_chained")
    }
    rates = {name: pipeline_rate(sample, 100, layer) for name, layer in presets.items()}
    print(
        f"\ninput pipeline alone (batch 100): {pipeline_rate(sample, 100, None):.0f} images/s; "
        + "; ".join(f"with {name} augmentation {rate:.0f}" for name, rate in rates.items())
    )
    recipe = recipes.get("deep_mnist")
    timing = {"steps": args.steps, "repeats": args.repeats, "rounds": args.rounds}
    for precision in ("float32", "auto"):
        trained = recipes.resolve(recipe, {"precision": precision})
        kept = augmentation_kept(trained, sample, presets, steps=args.steps, rounds=args.rounds)
        label = (
            f"{precision} ({resolve_precision(precision)[0]})" if precision == "auto" else precision
        )
        print(
            f"deep_mnist training, {label}, images/s kept with augmentation on "
            f"(median of {args.rounds} alternated rounds, range): "
            + "; ".join(
                f"{name} {np.median(r):.0%} ({min(r):.0%}-{max(r):.0%})" for name, r in kept.items()
            ),
            flush=True,
        )
    compare_with_pytorch(recipe, sample, **timing)
    return 0


def compare_with_pytorch(recipe, sample, *, steps: int, repeats: int, rounds: int) -> None:
    """`recipe` (deep_mnist) in float32 and with precision "auto", against the same network in a
    PyTorch eager loop in float32 and bfloat16 autocast; alternated twice so all see the same
    machine, the best of each."""
    try:
        import torch
    except ImportError:
        print("\nPyTorch comparison skipped: PyTorch is not installed (pip install -e '.[bench]')")
        return
    float32 = recipes.resolve(recipe, {"precision": "float32"})
    auto = recipes.resolve(recipe, {"precision": "auto"})
    rows = {"float32": [], "auto": [], "torch": [], "torch_bfloat16": []}
    for _ in range(rounds):
        rows["float32"].append(train_rate(float32, steps, sample, repeats=repeats)[0])
        rows["auto"].append(train_rate(auto, steps, sample, repeats=repeats)[0])
        rows["torch"].append(pytorch_rate(recipe.batch_size, steps, repeats=repeats))
        rows["torch_bfloat16"].append(
            pytorch_rate(recipe.batch_size, steps, bfloat16=True, repeats=repeats)
        )
    best = {name: max(rates) for name, rates in rows.items()}
    print(
        f"\n{recipe.name} against PyTorch {torch.__version__} ({torch.get_num_threads()} threads): "
        f"the same network, batch {recipe.batch_size}, Adam, random images in memory, "
        f"steps_per_execution {recipe.steps_per_execution}"
    )
    print(f"  PyTorch eager loop, float32:             {best['torch']:>6.0f} images/s")
    print(f"  PyTorch eager loop, bfloat16 autocast:   {best['torch_bfloat16']:>6.0f} images/s")
    for name, label in (("float32", "float32"), ("auto", f"auto ({resolve_precision('auto')[0]})")):
        print(
            f"  kerascnn fit, {label + ':':<27}{best[name]:>6.0f} images/s "
            f"({best[name] / best['torch']:.2f}x PyTorch float32, "
            f"{best[name] / best['torch_bfloat16']:.2f}x PyTorch bfloat16)"
        )


if __name__ == "__main__":
    sys.exit(main())
