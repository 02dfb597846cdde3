"""`kerascnn profile RECIPE`: each layer's share of a training step's time for a recipe's model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn import recipes, viz
from kerascnn.data import load_dataset
from kerascnn.errors import KerasCNNError
from kerascnn.models.anatomy import layer_times
from kerascnn.training.tasks import task_of


def profile_recipe(name_or_path, *, batch_size: int = 32, repeats: int = 3, out=None):
    """`kerascnn profile`: each layer's share of a training step's forward and backward time for a
    recipe's model (the seed's figure of AlexNet's time per layer); prints a table, writes a PNG."""
    recipe = recipes.resolve(name_or_path, {"data.train_limit": 1, "data.test_limit": 1})
    recipes.check(recipe)
    if task_of(recipe).name != "classification":
        raise KerasCNNError(
            f"kerascnn profile measures classifiers; {recipe.model.name!r} is not one"
        )
    data = load_dataset(recipe.data)
    model = task_of(recipe).build(recipe, data)
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, *data.info.image_shape))
    times = layer_times(model, batch.astype(np.float32), repeats=repeats)
    rows = sorted(
        ((name.split("/")[-1], f, b) for name, (f, b) in times.items()),
        key=lambda r: -(r[1] + r[2]),
    )
    total = sum(f + b for _, f, b in rows) or 1.0
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{recipe.name}: {recipe.model.name} on a batch of {batch_size} "
        f"{'x'.join(map(str, data.info.image_shape))} images, median of {repeats} passes",
        f"{'layer':<{width}}  forward ms  backward ms   share",
    ]
    lines += [
        f"{name:<{width}}  {1000 * f:10.2f}  {1000 * b:11.2f}  {100 * (f + b) / total:5.1f} %"
        for name, f, b in rows
    ]
    print("\n".join(lines), flush=True)
    path = Path(out or f"profile_{recipe.name}.png")
    shown = [r for r in rows if (r[1] + r[2]) / total >= 0.005][:25]
    figure = viz.layer_time_figure({n: (f / total, b / total) for n, f, b in shown}, title=lines[0])
    viz.save(figure, path)
    return path
