"""Throughput: training and inference images/s of every registered classifier at its recipe's settings,
and of the input pipeline alone, with and without augmentation, measured side by side in one run.

    python scripts/benchmark.py                       # every classifier recipe
    python scripts/benchmark.py deep_mnist mnist_fast --steps 50
    python scripts/benchmark.py deep_mnist --steps 60 --repeats 3 --rounds 2   # the README's figures

Each model trains on random images of its recipe's input shape for `--steps` steps after a warm-up
(graph tracing), with the recipe's batch size, precision and steps_per_execution; inference is
`predict` on as many images. The pipeline rows iterate the recipe's TrainingStream over the bundled
MNIST sample (or --data-dir), without and with the `digits` augmentation, and the training rows of
`deep_mnist` are repeated with that augmentation on: the ratio is what augmentation costs. Timings on
shared machines are noisy: compare the ratios printed here, not figures from different runs.
"""

from __future__ import annotations

import argparse
import sys
import time

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


def train_rate(
    recipe, steps: int, data, augmentation=None, *, repeats: int = 3
) -> tuple[float, float]:
    """(training images/s, inference images/s) of `recipe`'s model on random images of `data`'s
    shape."""
    info = data.info
    with precision_policy(recipe.precision):
        model = task_of(recipe).build(recipe, data)
        batch = recipe.batch_size
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (batch * 4, *info.image_shape)).astype(np.float32)
        labels = rng.integers(0, info.num_classes, batch * 4)
        data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch)
        if augmentation is not None:
            # As the TrainingStream applies it: in parallel, ahead of training.
            data = data.map(
                lambda x, y: (augmentation(x, training=True), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        data = task_of(recipe).fit_data(model, data.prefetch(tf.data.AUTOTUNE), recipe)
        warm = max(2, recipe.steps_per_execution)
        model.fit(data, steps_per_epoch=warm, epochs=1, verbose=0, shuffle=False)
        rates = []
        for _ in range(repeats):  # the median, against the noise of a shared machine
            started = time.perf_counter()
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
            rates.append(steps * batch / (time.perf_counter() - started))
        training = float(np.median(rates))
        model.predict(images[:batch], batch_size=batch, verbose=0)
        started = time.perf_counter()
        model.predict(np.concatenate([images] * max(1, steps // 4)), batch_size=batch, verbose=0)
        inference = len(images) * max(1, steps // 4) / (time.perf_counter() - started)
    return training, inference


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
        "--rounds", type=int, default=2, help="alternations of compared rows, the best (default 2)"
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
    digits = create_augmentation("digits", image_shape=sample.info.image_shape, seed=0)
    plain, augmented = pipeline_rate(sample, 100, None), pipeline_rate(sample, 100, digits)
    print(
        f"\ninput pipeline alone (batch 100): {plain:.0f} images/s; with digits augmentation {augmented:.0f}"
    )
    recipe = recipes.get("deep_mnist")
    offs, ons = [], []
    timing = {"steps": args.steps, "repeats": args.repeats, "rounds": args.rounds}
    for _ in range(args.rounds):  # alternated, so that both see the same machine
        offs.append(train_rate(recipe, args.steps, sample, repeats=args.repeats)[0])
        ons.append(train_rate(recipe, args.steps, sample, digits, repeats=args.repeats)[0])
    off, on = max(offs), max(ons)
    print(
        f"deep_mnist training: {off:.0f} images/s; with digits augmentation {on:.0f} ({on / off:.0%})"
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
