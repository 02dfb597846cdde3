"""Data in ordinary files: class folders of images, the Flickr8k captions layout, and archives; every
damaged input is a one-line error (exit 2 from the CLI) before anything trains or is written."""

import zipfile

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from kerascnn import recipes
from kerascnn.cli import main
from kerascnn.data import folders, load_dataset
from kerascnn.errors import DataError
from kerascnn.files import extract_archive, unpacked
from kerascnn.recipes import DataConfig


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def class_folders(root, *, per_class=8, size=(20, 20)):
    """Three classes of plain images (dark, mid, bright) in train/ and test/."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(("dark", "mid", "bright")):
            for i in range(per_class):
                level = 40 + 80 * label + rng.integers(-20, 20)
                image = np.full((*size, 3), level, np.uint8)
                write_png(root / split / name / f"{i}.png", image)
    return root


def test_class_folders_load_as_a_dataset_and_train(in_tmp):
    data = class_folders(in_tmp / "shapes")
    splits = load_dataset(DataConfig(name="shapes", data_dir=str(data)))
    assert splits.info.class_names == ("bright", "dark", "mid")  # sorted folder names
    assert splits.info.image_shape == (20, 20, 3) and splits.info.num_train == 24
    images, labels = next(iter(splits.train.batch(100)))
    assert images.dtype == tf.uint8 and sorted(set(labels.numpy())) == [0, 1, 2]
    result = recipes.run(
        "lenet5",
        verbose=0,
        epochs=1,
        batch_size=8,
        **{"data.data_dir": str(data), "data.name": "shapes", "export.enabled": False},
    )
    assert result.metrics["data"]["source"].startswith("class folders in")


def test_images_of_different_sizes_need_an_image_shape(in_tmp):
    data = class_folders(in_tmp / "shapes")
    write_png(data / "train" / "dark" / "big.png", np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(
        DataError, match=r"images differ in size: .* is 20x20x3, .*big.png is 30x30x3"
    ):
        load_dataset(DataConfig(name="shapes", data_dir=str(data)))
    splits = load_dataset(DataConfig(name="shapes", data_dir=str(data), image_shape=(16, 16, 1)))
    assert splits.info.image_shape == (16, 16, 1) and splits.info.num_train == 25


TOKEN = "a.jpg#0\tA red circle .\na.jpg#1\tA circle that is red .\nb.jpg#0\tTwo squares .\n"
CSV = 'image,caption\na.jpg,"A red circle, alone ."\na.jpg,A circle that is red .\nb.jpg,Two squares .\n'


def flickr8k(root, captions_name, text):
    for name in ("a.jpg", "b.jpg"):
        (root / "Images").mkdir(parents=True, exist_ok=True)
        (root / "Images" / name).write_bytes(
            tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy()
        )
    (root / captions_name).write_text(text)
    return root


@pytest.mark.parametrize("name,text", [("Flickr8k.token.txt", TOKEN), ("captions.txt", CSV)])
def test_both_flickr8k_caption_forms_parse(tmp_path, name, text):
    layout = folders.read_flickr8k(flickr8k(tmp_path, name, text))
    assert sorted(layout["captions"]) == ["a.jpg", "b.jpg"]
    assert len(layout["captions"]["a.jpg"]) == 2 and layout["captions"]["b.jpg"] == [
        "Two squares ."
    ]
    (tmp_path / "Flickr_8k.testImages.txt").write_text("b.jpg\n")
    assert folders.read_flickr8k(tmp_path)["splits"] == {"test": ["b.jpg"]}


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=120), form=st.sampled_from(["Flickr8k.token.txt", "captions.txt"]))
def test_any_captions_text_parses_or_names_its_line(tmp_path_factory, text, form):
    path = tmp_path_factory.mktemp("captions") / form
    path.write_text(text, encoding="utf-8")
    try:
        captions = folders.read_captions(path)
    except DataError as error:
        assert "\n" not in str(error)
    else:
        assert all(isinstance(c, list) and c for c in captions.values())


def bad_inputs(root):
    """The damaged folders the CLI cases below point at."""
    class_folders(root / "BADIMAGE", per_class=2)
    (root / "BADIMAGE" / "train" / "mid" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    flickr8k(root / "BADTOKEN", "Flickr8k.token.txt", TOKEN.replace("b.jpg#0\t", "b.jpg "))
    flickr8k(root / "BADCSV", "captions.txt", CSV.replace("b.jpg,Two", "b.jpg;Two"))
    flickr8k(root / "MISSING", "captions.txt", CSV + "c.jpg,Nothing .\n")
    flickr8k(root / "FLICKR", "captions.txt", CSV)
    with zipfile.ZipFile(root / "EVIL.zip", "w") as archive:
        archive.writestr("train/x/../../../escaped.png", b"x")
    for split in ("train", "test"):  # a one-class "classifier" would score 100 %
        write_png(root / "ONECLASS" / split / "cats" / "0.png", np.zeros((8, 8, 3), np.uint8))
    class_folders(root / "NOTEST", per_class=2)
    for path in (root / "NOTEST" / "test").rglob("*.png"):
        path.unlink()
    class_folders(root / "ONEFILLED", per_class=2)
    for path in (root / "ONEFILLED" / "train").rglob("*.png"):
        if path.parent.name != "mid":
            path.unlink()


FOLDER_CASES = [
    ("BADIMAGE", "cannot decode image BADIMAGE/train/mid/1.png"),
    ("BADTOKEN", "Flickr8k.token.txt line 3: expected 'IMAGE.jpg#N<TAB>CAPTION'"),
    ("BADCSV", "captions.txt line 4: expected 'IMAGE,CAPTION'"),
    ("MISSING", "captions 1 image(s) missing from MISSING/Images, e.g. 'c.jpg'"),
    ("FLICKR", "holds captioned images (the Flickr8k layout), not class labels"),
    ("EVIL.zip", "which would be written outside the folder it is extracted to"),
    ("ONECLASS", "has 1 class ('cats'); a classifier needs at least two"),
    ("NOTEST", "has no test images; a run needs at least one in each of train and test"),
    ("ONEFILLED", "the training images are all of one class ('mid')"),
]


@pytest.mark.parametrize("folder,message", FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_damaged_folders_are_one_line_exit_2_and_write_nothing(in_tmp, capsys, folder, message):
    bad_inputs(in_tmp)
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*"))
    assert main(["run", "lenet5", "--data-dir", folder, "--verbose", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerascnn: error: ") and message in err[0], err
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*")) == before
    assert not (in_tmp.parent / "escaped.png").exists()


def test_an_archive_of_class_folders_is_extracted_once_beside_it(in_tmp):
    data = class_folders(in_tmp / "shapes", per_class=2)
    with zipfile.ZipFile(in_tmp / "shapes.zip", "w") as archive:
        for path in data.rglob("*.png"):
            archive.write(path, path.relative_to(in_tmp / "shapes"))
    folder = unpacked(in_tmp / "shapes.zip")
    assert folder == in_tmp / "shapes" and (folder / "train" / "dark" / "0.png").is_file()
    target = in_tmp / "elsewhere"
    extract_archive(in_tmp / "shapes.zip", target)
    assert len(list(target.rglob("*.png"))) == 12


@pytest.mark.slow  # a captioner trained
def test_the_flickr8k_recipe_trains_on_a_folder_in_that_layout(in_tmp):
    from kerascnn import recipes

    rng = np.random.default_rng(0)
    lines = ["image,caption"]
    for index in range(12):
        write_png(
            in_tmp / "Flickr8k" / "Images" / f"{index}.png",
            rng.integers(0, 255, (20, 20, 3), dtype=np.uint8),
        )
        lines += [f"{index}.png,A dog runs on grass .", f"{index}.png,A dog in a field ."]
    (in_tmp / "Flickr8k" / "captions.txt").write_text("\n".join(lines) + "\n")
    result = recipes.run(
        "flickr8k",
        smoke=True,
        verbose=0,
        batch_size=8,  # at most the 10 training images
        data={"data_dir": str(in_tmp / "Flickr8k"), "image_shape": (32, 32, 3)},
        model={"name": "show_and_tell", "args": {"encoder": "small", "units": 16, "max_length": 8}},
    )
    assert (result.metrics["data"]["num_train"], result.metrics["data"]["num_test"]) == (10, 2)
    assert "Flickr8k layout" in result.metrics["data"]["source"]
    assert 0 <= result.metrics["test_bleu1"] <= 1 and result.export_dir is not None


def test_flickr8k_without_a_folder_says_what_to_pass(in_tmp, capsys):
    assert main(["run", "flickr8k"]) == 2
    assert "Flickr8k is not in tfds: pass --data-dir DIR" in capsys.readouterr().err
