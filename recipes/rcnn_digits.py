"""rcnn_digits: R-CNN (Girshick et al. 2014) on the synthetic digit canvases, fully offline.

Figure: mAP@0.5 0.717, COCO mAP 0.403 (mAP@0.75 0.387) on the 500 test canvases, 6.5 images/s
with selective search, trained in 445 s (126 s of selective search on the 1,000 training
canvases, then 319 s for 5 epochs) on 2 CPU cores shared with other runs (commit a205d56,
docs/measurements/detection_table.json), by

    python scripts/detection_table.py --only rcnn_digits

`python scripts/detection_table.py` puts it beside faster_rcnn_digits on the same canvases.

The slow original of region-based detection: selective search (OpenCV's, fast mode) proposes
about 100 regions per 128-px canvas, each is warped to 32x32 (2 px of context) and classified by
LeNet-5 (ReLU) with 11 outputs, background and the ten digits; per-class NMS at IoU 0.3 keeps
the detections. The classifier learns from the regions of 1,000 training canvases (selective
search runs once on each, about 80 ms): the true boxes and the proposals of IoU >= 0.5 with one
are that digit, proposals below 0.3 with every digit are background (the paper's SVM
threshold), those in between are left out. No export: selective search is OpenCV code outside
the TensorFlow graph; `kerascnn detect RUN_DIR image.png` uses the run.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import (
    CallbackConfig,
    DataConfig,
    ExportConfig,
    ModelConfig,
    OptimizerConfig,
    Recipe,
)


def recipe() -> Recipe:
    """R-CNN on synthetic 128-px canvases of MNIST digits: selective search, LeNet-5 on 32-px warped regions, Adam 1e-3."""
    return Recipe(
        name="rcnn_digits",
        data=DataConfig(
            name="digit_canvases",
            image_shape=(128, 128, 3),
            validation="test",
            train_limit=1000,
        ),
        model=ModelConfig(
            name="rcnn",
            args={
                "classifier": "lenet5",
                "classifier_args": {"activation": "relu"},
                "region_size": 32,
            },
        ),
        # The presets move images, not their boxes.
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3),
        batch_size=128,
        epochs=5,
        callbacks=CallbackConfig(
            histogram_freq=0, sample_grid=8, quality_examples=100, quality_every=5
        ),
        export=ExportConfig(enabled=False),
        source="kerascnn issue 23, point 4: R-CNN beside Faster R-CNN on the synthetic digit "
        "canvases; Girshick, Donahue, Darrell & Malik, 'Rich feature hierarchies for accurate "
        "object detection and semantic segmentation' (CVPR 2014)",
        smoke={
            "data.train_limit": 32,
            "data.test_limit": 4,
            "data.image_shape": [64, 64, 3],
            "batch_size": 32,
            "callbacks.sample_grid": 4,
            "callbacks.quality_examples": 4,
            "model.args": {
                "classifier": "lenet5",
                "classifier_args": {"activation": "relu"},
                "region_size": 32,
                "max_proposals": 100,
                "detections": 10,
            },
        },
    )
