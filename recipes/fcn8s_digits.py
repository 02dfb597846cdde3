"""fcn8s_digits: FCN-8s (Long et al. 2015) on the synthetic digit canvases, fully offline.

Figure: not measured here at this version. The target is mean IoU 0.85 over the 11 classes
(background and the ten digits) of the 500 test canvases (`target_mean_iou`), measured by

    python scripts/segmentation_iou.py

The network is FCN-8s's head (fc6 7x7 and fc7 1x1 as convolutions, score layers, skips, bilinear
transposed convolutions) on the book's deep CNN as backbone instead of VGG-16, whose 128-px
forward pass is about 20 times more work on a CPU: `--set model.args.backbone=vgg16` trains
the paper's network on the same canvases.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import CallbackConfig, DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    """FCN-8s on synthetic 128-px canvases of MNIST digits (11 classes), deep_mnist_cnn backbone, Adam 1e-3 cosine."""
    return Recipe(
        name="fcn8s_digits",
        data=DataConfig(name="digit_canvases", image_shape=(128, 128, 3)),
        model=ModelConfig(
            name="fcn8s",
            args={"backbone": "deep_mnist_cnn", "fc_units": 256, "dropout": 0.1},
        ),
        # The presets move images, not their masks.
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
        batch_size=32,
        epochs=12,
        callbacks=CallbackConfig(histogram_freq=0, sample_grid=8),
        target_mean_iou=0.85,
        source="kerascnn issue 23: mean IoU >= 0.85 on the synthetic digit canvases (11 classes); "
        "Long, Shelhamer & Darrell, 'Fully Convolutional Networks for Semantic Segmentation' "
        "(CVPR 2015)",
        smoke={
            "data.train_limit": 64,
            "data.test_limit": 16,
            "data.image_shape": [64, 64, 3],
            "batch_size": 16,
            "callbacks.sample_grid": 4,
        },
    )
