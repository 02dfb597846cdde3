"""Detection data (issue 23): the canvases' boxes as padded labels, the Pascal VOC and COCO-style
readers on tiny folders written here, their one-line errors, and tfds' how-to when unprepared."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kerascnn.boxes import PADDING, unpad_targets
from kerascnn.config import DataConfig
from kerascnn.data import coco, voc
from kerascnn.data.detected import load_detected
from kerascnn.data.sources import OFFLINE_ENV
from kerascnn.errors import DataError


def test_canvases_as_detection_labels():
    data = load_detected(
        DataConfig(name="digit_canvases", image_shape=(64, 64, 3), train_limit=12, test_limit=5)
    )
    assert data.info.num_classes == 10 and data.info.class_names[3] == "3"
    images, targets = next(iter(data.train.batch(12)))
    images, targets = images.numpy(), targets.numpy()
    assert images.shape == (12, 64, 64, 3) and targets.shape[0] == 12 and targets.shape[2] == 5
    assert (targets[..., 4] == PADDING).any()  # padded to the most boxes of any canvas
    for image, target in zip(images, targets, strict=True):
        found, labels = unpad_targets(target)
        assert 1 <= len(labels) <= 6 and ((labels >= 0) & (labels <= 9)).all()
        assert (found[:, :2] < found[:, 2:]).all() and found.min() >= 0 and found.max() <= 1
        # A box holds ink: its pixels differ from the canvas outside every box.
        top, left, bottom, right = (found[0] * 64).round().astype(int)
        assert image[top:bottom, left:right].std() > 0


def _voc_annotation(objects, width=30, height=20):
    parts = [f"<annotation><size><width>{width}</width><height>{height}</height></size>"]
    for name, (xmin, ymin, xmax, ymax) in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{xmin}</xmin>"
            f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def _voc_folder(root):
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    objects = {
        "a": [("dog", (1, 1, 30, 20))],
        "b": [("cat", (5, 3, 14, 10)), ("person", (16, 11, 25, 20))],
        "c": [("car", (2, 2, 8, 8))],
    }
    for image_id, found in objects.items():
        Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg"
        )
        (root / "Annotations" / f"{image_id}.xml").write_text(_voc_annotation(found))
    (root / "ImageSets/Main/trainval.txt").write_text("a\nb\n")
    (root / "ImageSets/Main/test.txt").write_text("c\n")
    return root


def test_voc_detection_reader(tmp_path):
    root = _voc_folder(tmp_path / "VOCdevkit" / "VOC2007")
    images, found, labels = voc.read_detection(root, "trainval", size=(10, 15))
    assert images.shape == (2, 10, 15, 3)
    # 1-based inclusive corners: xmin=1 .. xmax=30 is the whole width.
    np.testing.assert_allclose(found[0], [[0, 0, 1, 1]])
    np.testing.assert_allclose(found[1][0], [2 / 20, 4 / 30, 10 / 20, 14 / 30])
    assert [list(v) for v in labels] == [[11], [7, 14]]  # dog; cat, person (0-19)
    data = load_detected(DataConfig(name="voc", data_dir=str(tmp_path), image_shape=(16, 16, 3)))
    assert (data.info.num_train, data.info.num_test, data.info.num_classes) == (2, 1, 20)
    assert data.info.class_names[0] == "aeroplane"


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda r: (r / "Annotations/b.xml").write_text(
                _voc_annotation([("unicorn", (1, 1, 5, 5))])
            ),
            r"b.xml, object 1: unknown class 'unicorn'",
        ),
        (
            lambda r: (r / "Annotations/b.xml").write_text(
                _voc_annotation([("cat", (1, 1, 5, 5)), ("cat", (20, 5, 31, 10))])
            ),
            r"b.xml, object 2 \(cat\): box xmin=20 ymin=5 xmax=31 ymax=10 is not inside the 30x20",
        ),
        (
            lambda r: (r / "Annotations/a.xml").write_text("<annotation><size>"),
            r"a.xml is not valid XML",
        ),
        (lambda r: (r / "JPEGImages/b.jpg").unlink(), r"trainval.txt: image 'b' has no photo"),
        (lambda r: (r / "Annotations/a.xml").unlink(), r"annotation .*a.xml does not exist"),
        (
            lambda r: (r / "Annotations/a.xml").write_text(
                _voc_annotation([("dog", (1, 1, 5, 5))], width=40)
            ),
            r"a.xml gives the size 40x20, its photo a.jpg is 30x20",
        ),
    ],
)
def test_voc_detection_reader_names_the_bad_file_and_entry(tmp_path, damage, message):
    root = _voc_folder(tmp_path)
    damage(root)
    with pytest.raises(DataError, match=message):
        voc.read_detection(root, "trainval", size=(10, 10))


def _coco_folder(root):
    for split, count in (("train2017", 3), ("val2017", 1)):
        (root / split).mkdir(parents=True)
        images = []
        for index in range(count):
            name = f"{index:06d}.jpg"
            Image.fromarray(np.full((40, 60, 3), 20 * index, np.uint8)).save(root / split / name)
            images.append({"id": 10 + index, "file_name": name, "width": 60, "height": 40})
        annotations = [
            {"id": 1, "image_id": 10, "category_id": 18, "bbox": [6, 4, 30, 20], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 1, "bbox": [0, 0, 60, 40], "iscrowd": 0},
            {"id": 3, "image_id": 10, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        ]
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps(
                {
                    "images": images,
                    "annotations": annotations,
                    "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
                }
            )
        )
    return root


def test_coco_detection_reader(tmp_path):
    root = _coco_folder(tmp_path / "coco")
    images, found, labels, names, ids = coco.read_detection(
        *coco.find_split(root, "train"), size=(20, 30)
    )
    assert images.shape == (3, 20, 30, 3) and names == ("person", "dog") and ids == [1, 18]
    # Category ids in order are labels; the crowd box is left out; [x, y, w, h] -> normalised yxyx.
    assert list(labels[0]) == [1, 0] and len(labels[1]) == 0
    np.testing.assert_allclose(found[0], [[4 / 40, 6 / 60, 24 / 40, 36 / 60], [0, 0, 1, 1]])
    data = load_detected(DataConfig(name="coco", data_dir=str(root), image_shape=(32, 32, 3)))
    assert (data.info.num_train, data.info.num_test, data.info.num_classes) == (3, 1, 2)


def _rewrite(root, change):
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda r: _rewrite(r, lambda d: d["annotations"][0].update(bbox=[50, 4, 30, 20])),
            r"annotations\[0\]: bbox \[50, 4, 30, 20\] is not a box inside its 60x40 image 000000.jpg",
        ),
        (
            lambda r: _rewrite(r, lambda d: d["annotations"][1].update(category_id=7)),
            r"annotations\[1\]: category_id 7 is not in the file's categories",
        ),
        (
            lambda r: _rewrite(r, lambda d: d["annotations"][1].update(image_id=99)),
            r"annotations\[1\]: image_id 99 is not in the file's images",
        ),
        (lambda r: (r / "train2017/000001.jpg").unlink(), r"image 11 has no file .*000001.jpg"),
        (
            lambda r: (r / "annotations/instances_train2017.json").write_text('{"images": ['),
            r"instances_train2017.json is not valid JSON",
        ),
        (
            lambda r: _rewrite(r, lambda d: d.pop("annotations")),
            r"instances_train2017.json is not a COCO detection file",
        ),
    ],
)
def test_coco_detection_reader_names_the_bad_file_and_entry(tmp_path, damage, message):
    root = _coco_folder(tmp_path)
    damage(root)
    with pytest.raises(DataError, match=message):
        load_detected(DataConfig(name="coco", data_dir=str(root), image_shape=(32, 32, 3)))


def test_unprepared_tfds_says_how_to_prepare_it(tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.delenv("KERASCNN_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"tfds voc/2007 is not prepared .*tfds build voc/2007"):
        load_detected(DataConfig(name="voc", tfds_data_dir=str(tmp_path)))


@pytest.mark.parametrize(
    "config, message",
    [
        (DataConfig(name="mnist"), "detection needs images with boxes"),
        (DataConfig(name="digit_canvases", classes=(1, 2)), "data.classes"),
        (DataConfig(name="digit_canvases", image_shape=(32, 32, 1)), "3 channels"),
    ],
)
def test_refused_configs(config, message):
    with pytest.raises(DataError, match=message):
        load_detected(config)
