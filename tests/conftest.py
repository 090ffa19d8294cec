"""Shared test set-up: a clean data cache for every test, and the small sweep trained whole (``replicate``
itself keeps TensorFlow's log quiet)."""
import pytest

from replicate import cli, data
from tests.small_sweep import SMALL


@pytest.fixture(autouse=True)
def _fresh_data_cache():
    data._load_real.cache_clear()
    yield
    data._load_real.cache_clear()


@pytest.fixture(autouse=True)
def _no_model_from_another_test():
    """Each test builds its own models; a test that reuses one across seeds does so within itself."""
    from replicate import train

    train.clear_compiled()
    yield
    train.clear_compiled()


@pytest.fixture(scope="session")
def unsharded(tmp_path_factory):
    """The small sweep (tests/small_sweep.py) trained whole, in this process, and evaluated: the reference for the
    sharded runs."""
    out = tmp_path_factory.mktemp("unsharded") / "sweep"
    assert cli.main([*SMALL, "--out", str(out), "--no-report"]) == 0
    assert cli.main(["evaluate", str(out)]) == 0
    return out
