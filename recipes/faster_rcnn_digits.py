"""faster_rcnn_digits: Faster R-CNN (Ren et al. 2015) on the synthetic digit canvases, fully offline.

Figure: not measured here at this version. The targets are mAP@0.5 0.90 and COCO mAP@[.5:.95]
0.60 over the ten digit classes of the 500 test canvases (`target_map50`), measured by

    python scripts/detection_map.py

(about 30 minutes on 2 idle cores, 40 ms per training image; twice that on loaded ones). Shorter
trials on 2,000 canvases, scored on 200 test canvases, are in
docs/experiments/2026-12-03-faster-rcnn.md: these settings reached mAP@0.5 0.75 and COCO mAP
0.40 after 4 epochs at a constant learning rate.

The network is the paper's (an RPN of 3 scales x 3 ratios of anchors, proposals by NMS, pooled
regions, a two-layer box head, approximate joint training) on the book's deep CNN as backbone
instead of VGG-16: its last convolution's map (block3_conv2, 1/4 of the 128-px canvases, 64
channels; its 1/8 pooled map learned more slowly), with anchors of 24, 40 and 64 px for digits of
28 to 64 px, and fewer proposals and sampled regions than for 600-px photos (a canvas has at
most six objects): 256 proposals in training, 100 in testing, 128 regions per image.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import CallbackConfig, DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    """Faster R-CNN on synthetic 128-px canvases of MNIST digits (10 classes), deep_mnist_cnn backbone, Adam 2e-3 cosine."""
    return Recipe(
        name="faster_rcnn_digits",
        data=DataConfig(name="digit_canvases", image_shape=(128, 128, 3), validation="test"),
        model=ModelConfig(
            name="faster_rcnn",
            args={
                "backbone": "deep_mnist_cnn",
                "backbone_layer": "block3_conv2",
                "anchor_scales": [24.0, 40.0, 64.0],
                "pre_nms": 1000,
                "train_proposals": 256,
                "test_proposals": 100,
                "head_batch": 128,
                "detections": 50,
            },
        ),
        # The presets move images, not their boxes.
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=2e-3, schedule="cosine"),
        batch_size=16,
        epochs=10,
        callbacks=CallbackConfig(
            histogram_freq=0, sample_grid=8, quality_examples=200, quality_every=2
        ),
        target_map50=0.90,
        source="kerascnn issue 23: mAP@0.5 >= 0.90 and COCO mAP >= 0.60 on the synthetic digit "
        "canvases; Ren, He, Girshick & Sun, 'Faster R-CNN: Towards Real-Time Object Detection "
        "with Region Proposal Networks' (NeurIPS 2015)",
        smoke={
            "data.train_limit": 32,
            "data.test_limit": 8,
            "data.image_shape": [64, 64, 3],
            "batch_size": 8,
            "callbacks.sample_grid": 4,
            "callbacks.quality_examples": 8,
            "model.args": {
                "anchor_scales": [16.0, 32.0],
                "rpn_channels": 32,
                "head_units": [32],
                "pool_size": 4,
                "rpn_batch": 64,
                "pre_nms": 200,
                "train_proposals": 32,
                "test_proposals": 16,
                "head_batch": 32,
                "detections": 10,
            },
        },
    )
