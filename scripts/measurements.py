"""What the measuring scripts record beside a figure, and the one way they write it down.

`scripts/verify_recipes.py` and `scripts/reproduce.py` merge each result, as it finishes, into a
JSON file under `docs/measurements/`, so a figure quoted in the README can cite the file, the
commit it was measured at and the machine:

    code = measurements.provenance()  # before training: the package may change during a run
    ...train...
    measurements.merge(path, ["deep_mnist", "0"], {**figures, **code})
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import subprocess
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from kerascnn import recipes
from kerascnn.files import atomic_path
from kerascnn.overrides import parse_assignments

ROOT = Path(__file__).resolve().parent.parent
MEASUREMENTS = ROOT / "docs" / "measurements"
# What decides a figure: the package and the recipe files that fill its registry.
CODE = ("kerascnn", "recipes")


def provenance() -> dict:
    """The commit, whether the code differed from it, the oneDNN setting, the date and the machine.

    Read it before training: the package may be edited while a long run goes on, and the code
    that runs is the code there was when the command started."""
    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        # The code differed from the commit (or git could not say): the figure is not "at HEAD".
        "uncommitted_changes": git("status", "--porcelain", "--", *CODE) != "",
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "date": date.today().isoformat(),
        "machine": machine(),
    }


def machine() -> str:
    """'2 cores, x86_64': the cores and the processor a timing was taken on."""
    return f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"


def git(*args: str) -> str | None:
    """What `git ARGS` prints in the repository, or None without git or a repository."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def merge(path: Path, keys: list[str], row: dict) -> dict | None:
    """Puts `row` at `keys` (e.g. recipe, then seed) in the JSON file `path`, keeping every other
    entry, and returns the entry it replaced (None if there was none).

    The file is rewritten atomically under a lock on its folder: a reader never sees half of it,
    and two commands merging into it at once both keep their rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        results = json.loads(path.read_text()) if path.is_file() else {}
        node = results
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        replaced = node.get(keys[-1])
        node[keys[-1]] = row
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return replaced


@contextmanager
def _locked(folder: Path):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def run_canvas_recipe(name: str, description: str, argv=None):
    """(result, provenance) of the dense-prediction recipe `name` trained as its script's command
    line (`--epochs`, `--data-dir` for the canvases' MNIST digits, `--set KEY=VALUE`) asks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--data-dir", help="MNIST IDX files whose digits fill the canvases")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    recipe = recipes.resolve(name, parse_assignments(args.set), from_text=True)
    overrides = {}
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.data_dir:
        overrides["data.data_dir"] = args.data_dir
    code = provenance()  # before training: the package may change during a run
    return recipes.run(recipe, fresh=True, verbose=2, **overrides), code
