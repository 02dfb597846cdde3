import os

# Tests never download: the same switch a user sets makes tfds requests fall back at once.
os.environ.setdefault("KERASCNN_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow; run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Runs the test inside an empty directory, so relative runs/ and saved_models/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
