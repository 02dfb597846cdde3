"""fcn8s_voc: FCN-8s (Long et al. 2015) on Pascal VOC 2012 segmentation, for users with a copy.

    kerascnn run fcn8s_voc --data-dir VOCdevkit        # or the VOC2012 folder itself

Trains on `ImageSets/Segmentation/train.txt` (1,464 images) and is scored on `val.txt` (1,449),
resized to 320x320 (the paper trains on whole images of up to 500x500, one at a time). The paper
starts from ImageNet VGG-16 (`--set model.args.backbone_weights=imagenet`, downloaded once where
there is network) and reports 62.7 mean IoU on VOC 2011 test with extra SBD training images;
from scratch and on VOC's own 1,464 images expect far less.

Figure: not reproduced here at this version (no VOC copy on this machine).

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import CallbackConfig, DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    """FCN-8s (VGG-16) on Pascal VOC 2012 segmentation (21 classes) from --data-dir, SGD with momentum."""
    return Recipe(
        name="fcn8s_voc",
        data=DataConfig(name="voc", image_shape=(320, 320, 3)),
        model=ModelConfig(name="fcn8s", args={"backbone": "vgg16"}),
        augmentation="none",
        # The paper's fixed learning rate 1e-4 with momentum 0.99 is for its unnormalised
        # (summed) loss at batch 1; this loss is a per-pixel mean, so the rate is larger.
        optimizer=OptimizerConfig(name="sgd", learning_rate=1e-2, momentum=0.9, weight_decay=5e-4),
        batch_size=8,
        epochs=50,
        callbacks=CallbackConfig(histogram_freq=0, sample_grid=8),
        target_mean_iou=0.627,
        source="Long, Shelhamer & Darrell, 'Fully Convolutional Networks for Semantic "
        "Segmentation' (CVPR 2015), Table 3: FCN-8s 62.7 mean IU on VOC2011 test",
        smoke={
            "data.train_limit": 8,
            "data.test_limit": 4,
            "data.image_shape": [64, 64, 3],
            "batch_size": 4,
            "model.args": {"backbone": "vgg16", "fc_units": 64},
        },
    )
