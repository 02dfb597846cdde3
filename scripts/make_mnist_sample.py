"""Cuts the bundled MNIST sample (kerascnn/data/mnist_sample) from the real MNIST IDX files.

A class-balanced, seeded random subset: 600 training and 200 test images per digit. The output is
byte-for-byte reproducible. Usage:

    python scripts/make_mnist_sample.py ../shared/datasets/mnist
"""

import argparse
from pathlib import Path

import numpy as np

from kerascnn.data.idx import SPLIT_FILES, find_split_files, read_split, write_idx

PER_CLASS = {"train": 600, "test": 200}
OUT = Path(__file__).resolve().parents[1] / "kerascnn" / "data" / "mnist_sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", help="folder with the four MNIST IDX .gz files")
    args = parser.parse_args()
    rng = np.random.default_rng(20261122)
    files = find_split_files(args.mnist_dir)
    for split, (images_path, labels_path) in files.items():
        images, labels = read_split(images_path, labels_path)
        chosen = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(labels == digit), PER_CLASS[split], replace=False)
                    for digit in range(10)
                ]
            )
        )
        image_stem, label_stem = SPLIT_FILES[split]
        write_idx(OUT / f"{image_stem}.gz", images[chosen, ..., 0])
        write_idx(OUT / f"{label_stem}.gz", labels[chosen].astype(np.uint8))
        print(f"{split}: {len(chosen)} images -> {OUT}")


if __name__ == "__main__":
    main()
