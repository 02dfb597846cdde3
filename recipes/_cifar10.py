"""Not a recipe: what the CIFAR-10 recipes share. Each of them starts from `base()`.

CIFAR-10 at 32x32x3 with the standard pad-crop-flip augmentation (`cifar`), batch 128, and a smoke
version of two tiny steps. Where tfds cannot load CIFAR-10 (no network and no prepared copy) and no
`--data-dir` is given, a run falls back to the bundled MNIST sample adapted to 32x32x3 (6,000 train /
2,000 test images, `kerascnn.data.sources`) and trains the recipe's `fallback_epochs` instead of
its `epochs`; each recipe sizes that budget from one measured epoch of the sample.
"""

from kerascnn.recipes import DataConfig, Recipe

# An ImageNet-era network with a small stem does ImageNet-sized work per 32 px image (InceptionV3:
# about 6 GFLOPs), so its smoke version takes two steps of 8 images.
SMOKE = {"batch_size": 8, "data.train_limit": 16, "data.test_limit": 16}


def base() -> Recipe:
    """A classifier on CIFAR-10; a recipe sets its name, model, optimizer, epochs and source."""
    return Recipe(
        name="cifar10",
        data=DataConfig(name="cifar10", image_shape=(32, 32, 3)),
        augmentation="cifar",
        batch_size=128,
        smoke=SMOKE,
    )
