"""faster_rcnn_voc: Faster R-CNN (Ren et al. 2015) with VGG-16 on Pascal VOC 2007, for users with a copy.

    kerascnn run faster_rcnn_voc --data-dir VOCdevkit     # or VOC2007 itself; or tfds voc/2007

Trains on `ImageSets/Main/trainval.txt` (5,011 images) and is scored on `test.txt` (4,952), resized
to 480x480 (the paper rescales the shorter side to 600 px). The paper's network: VGG-16's conv5_3
map (stride 16), an RPN of 512 channels with anchors of 128, 256 and 512 px at ratios 1:2, 1:1 and
2:1, 7x7 pooled regions, fc6 and fc7 of 4096 units; SGD with momentum 0.9 and weight decay
5e-4, one image per batch in the paper (two here). It starts from ImageNet VGG-16
(`--set model.args.backbone_weights=imagenet`, downloaded once where there is network) and reports
69.9 % mAP@0.5 on VOC 2007 test (Table 3, "07" training data, shared features); from scratch
expect far less.

Figure: not reproduced here at this version (no VOC copy on this machine).

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import CallbackConfig, DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    """Faster R-CNN (VGG-16, conv5_3) on Pascal VOC 2007 detection (20 classes) from --data-dir or tfds, SGD with momentum."""
    return Recipe(
        name="faster_rcnn_voc",
        data=DataConfig(name="voc", image_shape=(480, 480, 3), validation="test"),
        model=ModelConfig(
            name="faster_rcnn",
            args={
                "backbone": "vgg16",
                "backbone_layer": "block5_conv3",
                "anchor_scales": [128.0, 256.0, 512.0],
                "rpn_channels": 512,
                "head_units": [4096, 4096],
                "train_proposals": 2000,
                "test_proposals": 300,
            },
        ),
        augmentation="none",
        # The paper: 0.001 for 60k mini-batches, then 0.0001 for 20k (VOC 2007, one image each).
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=1e-3,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="step",
            decay_rate=0.1,
            decay_epochs=12,
        ),
        batch_size=2,
        epochs=16,
        callbacks=CallbackConfig(
            histogram_freq=0, sample_grid=8, quality_examples=500, quality_every=4
        ),
        target_map50=0.699,
        source="Ren, He, Girshick & Sun, 'Faster R-CNN: Towards Real-Time Object Detection with "
        "Region Proposal Networks' (NeurIPS 2015), Table 3: VGG-16, VOC 2007 trainval, 69.9 % "
        "mAP on VOC 2007 test",
        smoke={
            "data.train_limit": 4,
            "data.test_limit": 2,
            "data.image_shape": [64, 64, 3],
            "batch_size": 2,
            "callbacks.sample_grid": 2,
            "callbacks.quality_examples": 2,
            "model.args": {
                "backbone": "vgg16",
                "backbone_layer": "block5_conv3",
                "anchor_scales": [16.0, 32.0, 64.0],
                "rpn_channels": 32,
                "head_units": [32],
                "train_proposals": 32,
                "test_proposals": 16,
                "head_batch": 32,
                "detections": 10,
            },
        },
    )
