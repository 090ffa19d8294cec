"""What produced a result: library versions, backend, device, git commit and dirty flag, command line, time.

Only reads the environment; the backend is Keras' own answer when Keras is already imported.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from replicate import numerics

_PACKAGES = ("replicate", "keras", "tensorflow", "jax", "jaxlib", "numpy", "scipy", "scikit-image", "matplotlib",
             "jinja2")


def versions() -> dict[str, str]:
    """Installed versions of Python and of the libraries a result depends on (absent ones omitted)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def cpu_name() -> str:
    """The CPU model as the OS reports it, with the number of cores."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores)"


def backend() -> str:
    """This process's Keras backend: Keras' answer once it is imported (keras.json may have chosen it), before that
    $KERAS_BACKEND's or Keras' default."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def device() -> str:
    """The accelerator the Keras backend trains on, else the CPU."""
    name = backend()
    try:
        if name == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                return f"GPU: {gpus[0].device_kind} (x{len(gpus)})"
        elif name == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"GPU: {details.get('device_name', gpus[0].name)} (x{len(gpus)})"
    except Exception:  # a broken accelerator stack still trains on the CPU; say so rather than fail
        pass
    return f"CPU: {cpu_name()}"


def git_state(where: str | os.PathLike | None = None) -> dict:
    """Commit and dirty flag of the git checkout holding this package (or ``where``); 'unknown' outside git, and
    where the package is not tracked by the repository around it (installed into a folder of another one). Dirty:
    a tracked file changed anywhere, or a Python file git does not track (nor ignore) in the package's folder (or
    ``where``), which the code could import."""
    cwd = Path(where) if where else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        if where is None:
            git("ls-files", "--error-unmatch", "__init__.py")  # fails where the repository does not hold the package
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no")
                     or git("ls-files", "--others", "--exclude-standard", "--", "*.py"))
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed, with the program reduced to its name so no absolute path is recorded."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = "replicate" if argv[0].endswith(("replicate", "__main__.py")) else Path(argv[0]).name
    return shlex.join(argv)


#: The sweep process that trains a run, named in the run's status.json (its child processes inherit it).
PROCESS_ENV = "REPLICATE_PROCESS"


def process() -> str | None:
    """The id of the sweep process this run is trained for, or None outside a sweep."""
    return os.environ.get(PROCESS_ENV) or None


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def collect(argv: list[str] | None = None, backends: str | None = None) -> dict:
    """The provenance block written beside every sweep; ``backends`` names the backends it trains on (default: this
    process's)."""
    return {
        "versions": versions(),
        "backend": backends or backend(),
        "device": device(),
        "platform": f"{platform.system()} {platform.machine()}",
        "numerics": numerics.settings(),
        "git": git_state(),
        "command": command_line(argv),
    }
