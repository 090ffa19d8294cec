"""Shared test set-up: quiet TensorFlow, a clean data cache for every test, and the small sweep trained whole."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from replicate import cli, data  # noqa: E402
from tests.small_sweep import SMALL  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_data_cache():
    data._load_real.cache_clear()
    yield
    data._load_real.cache_clear()


@pytest.fixture(scope="session")
def unsharded(tmp_path_factory):
    """The small sweep (tests/small_sweep.py) trained whole, in this process, and evaluated: the reference for the
    sharded runs."""
    out = tmp_path_factory.mktemp("unsharded") / "sweep"
    assert cli.main([*SMALL, "--out", str(out), "--no-report"]) == 0
    assert cli.main(["evaluate", str(out)]) == 0
    return out
