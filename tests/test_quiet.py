"""The start-up log filter: which lines written while TensorFlow loads are shown, by ``TF_CPP_MIN_LOG_LEVEL``.

The absl lines are copied from TensorFlow 2.21's start-up on a machine without a GPU (timestamps before absl's
initialisation read ``00:00:<seconds since 1970>``).
"""
import pytest

from replicate import quiet

INFO = ("I0000 00:00:1795615940.920297   12480 port.cc:153] oneDNN custom operations are on. You may see slightly "
        "different numerical results due to floating-point round-off errors from different computation orders.\n")
ERROR = ("E0000 00:00:1795615937.851616   12474 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
         "Failed call to cuInit: UNKNOWN ERROR (303)\n")
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"


@pytest.mark.parametrize("level, shown", [(0, [PREAMBLE, INFO, ERROR]), (1, [ERROR]), (2, [ERROR]), (3, [])])
def test_absl_lines_below_the_level_are_dropped(level, shown):
    assert [line for line in (PREAMBLE, INFO, ERROR) if quiet.keep(line, level)] == shown


@pytest.mark.parametrize("line", ["Traceback (most recent call last):\n", "ImportError: libcuda.so.1\n",
                                  "<frozen importlib>:1: UserWarning: something real\n", "plain text\n"])
def test_other_lines_are_always_shown(line):
    assert quiet.keep(line, 3)


def test_tensorflow_loads_through_the_filter_or_is_loaded():
    import sys

    assert "tensorflow" in sys.modules or any(isinstance(f, quiet._QuietImport) for f in sys.meta_path)
