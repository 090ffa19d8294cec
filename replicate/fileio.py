"""Atomic file writes (temp file + rename) so an interrupted run never leaves a half-written artifact."""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the artifact ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any, *, compact: bool = False) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN/inf become null so the file stays strict JSON); ``compact``
    drops the indentation, for large files (``python -m json.tool`` indents them for reading)."""
    text = json.dumps(_finite(obj), separators=(",", ":")) if compact else json.dumps(_finite(obj), indent=2)
    return write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npz(path: str | os.PathLike, compress: bool = True, **arrays) -> Path:
    """Write numpy arrays to a ``.npz`` (compressed unless ``compress`` is False) atomically."""
    import numpy as np

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)

    return atomic_write(path, _write)


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def remove_leftovers(folder: str | os.PathLike) -> None:
    """Delete the temporary files that interrupted :func:`atomic_write` calls left in ``folder``."""
    folder = Path(folder)
    if folder.is_dir():
        for path in folder.glob(".*.tmp*"):
            path.unlink(missing_ok=True)


def read_npz(path: str | os.PathLike, keys: tuple[str, ...] | None = None) -> dict:
    """The arrays of a ``.npz`` (only ``keys``, when given), read whole; a ValueError names a damaged or
    incomplete file, which is always closed."""
    import zipfile

    import numpy as np

    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            missing = [k for k in keys or () if k not in z.files]
            if missing:
                raise KeyError(f"no array {', '.join(missing)}")
            return {k: z[k] for k in (keys or z.files)}
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path} cannot be read ({type(err).__name__}: {err})") from err


def relative(text: str, folder: str | os.PathLike) -> str:
    """``text`` with ``folder``'s path (absolute, resolved or not, or as given) written as the folder's name, so that a
    message stored in an artifact holds no absolute path."""
    folder, resolved = Path(folder), Path(folder).resolve()
    if not resolved.name:  # the root
        return text
    for path in dict.fromkeys([str(resolved), str(folder.absolute())]):
        text = text.replace(path, resolved.name)
    if folder.name not in ("", ".", ".."):  # a relative path where a path starts: 'runs/quick/x' -> 'quick/x'
        text = re.sub(rf"(?<![\w.{re.escape(os.sep)}-]){re.escape(f'{folder}{os.sep}')}",
                      lambda _: f"{resolved.name}{os.sep}", text)
    return text


def finite(v: Any) -> bool:
    """A real, finite number as read from JSON (not None, a bool, NaN or infinite)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
