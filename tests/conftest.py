"""Shared test set-up: quiet TensorFlow, and a clean data cache for every test."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from replicate import data  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_data_cache():
    data._load_real.cache_clear()
    yield
    data._load_real.cache_clear()
