"""Keep the libraries' start-up log off the terminal, so that what a command prints is ours or a real problem.

TensorFlow's C++ code logs through absl: notes on CPU features and oneDNN, failed CUDA probes on a machine
without a GPU, graph-rewrite messages. ``TF_CPP_MIN_LOG_LEVEL`` (set here to 3 unless the user set it) silences
them once TensorFlow has read it, but the lines written while its shared libraries load come before that. So
the first ``import tensorflow`` runs with file descriptor 2 sent to a temporary file, and afterwards every line
of it is written back except the absl log lines below ``TF_CPP_MIN_LOG_LEVEL`` (0 shows everything). Python
exceptions, Python warnings and our own messages are never filtered.

It does not import TensorFlow (a process that never needs it never loads it) and changes no computation.
"""
from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile

#: An absl log line: severity letter (I, W, E, F), date, time, thread, file:line].
_ABSL_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def install() -> None:
    """Set the libraries' log levels (keeping any the user set) and filter TensorFlow's first import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def keep(line: str, min_level: int) -> bool:
    """Whether a line written while TensorFlow loads is shown: all but absl log lines below ``min_level``."""
    if min_level > 0 and line.rstrip("\n") == _ABSL_PREAMBLE:
        return False
    m = _ABSL_LINE.match(line)
    return m is None or _SEVERITY[m.group(1)] >= min_level


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and gives it a loader that filters its start-up lines (once
    it is loaded, imports come from ``sys.modules`` and no finder is asked)."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        for finder in sys.meta_path:
            find = None if finder is self else getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _FilteredLoader(spec.loader)
                return spec
        return None


class _FilteredLoader(importlib.abc.Loader):
    """Runs the wrapped loader with file descriptor 2 captured, then writes back the lines to keep."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            saved = os.dup(2)
        except OSError:  # no standard error to redirect
            return self._loader.exec_module(module)
        with tempfile.TemporaryFile() as capture:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                level = _min_level()
                text = capture.read().decode("utf-8", "replace")
                kept = "".join(line for line in text.splitlines(keepends=True) if keep(line, level))
                if kept:
                    os.write(2, kept.encode())
