"""What a command must not print when nothing went wrong: a library's log line, or a line that looks like an error.

The patterns are those seen from TensorFlow, XLA and Python: absl's log format (``E0000 00:00:1795615937.85 12474
cuda_platform.cc:52] failed call to cuInit ...``) and its preamble, TensorFlow's older dated format, Python
logging's default format, tracebacks, and Python warnings and exceptions (``UserWarning: ...``).
"""
from __future__ import annotations

import re

NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"
    r"|^WARNING: All log messages before absl::InitializeLog"
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    r"|^(DEBUG|INFO|WARNING|ERROR|CRITICAL|FATAL):"
    r"|Traceback \(most recent call last\)"
    r"|\b\w*(Warning|Error|Exception): "
)


def noise(text: str) -> list[str]:
    """The lines of ``text`` that look like a library's log or an error."""
    return [line for line in text.splitlines() if NOISE.search(line)]
