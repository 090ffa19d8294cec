"""Shared test set-up: a clean data cache for every test (``replicate`` itself keeps TensorFlow's log quiet)."""
import pytest

from replicate import data


@pytest.fixture(autouse=True)
def _fresh_data_cache():
    data._load_real.cache_clear()
    yield
    data._load_real.cache_clear()
