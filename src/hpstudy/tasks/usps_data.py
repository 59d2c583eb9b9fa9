"""Load the USPS handwritten-digit data set (16x16 grey images, digits 0-9).

Where the files are looked for, in this order of directories (the first one set wins):

1. the ``data_dir`` argument (the command line's ``--data-dir``),
2. the environment variable ``HPSTUDY_DATA_DIR``,
3. :func:`default_cache_dir` (``$HPSTUDY_CACHE_DIR`` or ``~/.cache/hpstudy``).

Within that one directory the sources are tried in this order:

1. ``usps.h5``: HDF5 with datasets ``train/data`` (7291, 256) and ``test/data``
   (2007, 256) holding pixels in [0, 1], and ``train/target`` / ``test/target``
   holding the digits 0-9.
2. ``usps.bz2`` and ``usps.t.bz2``: the LIBSVM files (bz2-compressed text, one image a
   line, ``label index:value ...``) with labels 1-10 for the digits 0-9, pixel indices
   1-256 and pixel values in [-1, 1]; an index left out means the value -1.
3. If those are missing too and downloading is allowed, the two LIBSVM files are
   downloaded into that directory, checked against their md5 sums (the same files and
   sums torchvision's ``USPS`` class uses) and then read as in 2.

Range convention: whichever source is used, :func:`load_usps` returns float32 pixels
in [0, 1] and int64 labels 0-9. LIBSVM values ``v`` in [-1, 1] are mapped to
``(v + 1) / 2`` and labels ``l`` to ``l - 1``, so both sources give identical arrays
for the same images.

Every problem (missing, truncated or corrupt files, a failed checksum) raises
:class:`hpstudy.errors.DataError` with a one-line message that names the file or
directory and says how to fix it.
"""

import bz2
import hashlib
import http.client
import logging
import math
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from hpstudy.errors import DataError

logger = logging.getLogger(__name__)

H5_NAME = "usps.h5"
LIBSVM_NAMES: dict[str, str] = {"train": "usps.bz2", "test": "usps.t.bz2"}
URL_BASE = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
MD5: dict[str, str] = {
    "usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197",
    "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118",
}
EXPECTED_ROWS: dict[str, int] = {"train": 7291, "test": 2007}
N_PIXELS = 256
N_CLASSES = 10
DOWNLOAD_TIMEOUT_S = 60.0
DATA_DIR_ENV = "HPSTUDY_DATA_DIR"
CACHE_DIR_ENV = "HPSTUDY_CACHE_DIR"

_CHUNK_BYTES = 1 << 16
_H5_FIX = (
    "replace it with a good copy, or delete it to use usps.bz2 + usps.t.bz2 "
    "(downloaded if missing) instead"
)
_BZ2_FIX = "delete it so that it is downloaded again, or replace it with a good copy"


@dataclass(frozen=True)
class UspsArrays:
    """The USPS splits: pixels float32 in [0, 1], labels int64 digits 0-9."""

    x_train: np.ndarray  # (7291, 256) float32 in [0, 1]
    y_train: np.ndarray  # (7291,) int64 labels 0..9
    x_test: np.ndarray  # (2007, 256) float32 in [0, 1]
    y_test: np.ndarray  # (2007,) int64


def default_cache_dir() -> Path:
    """Return ``$HPSTUDY_CACHE_DIR`` if set and non-empty, else ``~/.cache/hpstudy``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hpstudy"


def load_usps(data_dir: Path | None = None, *, allow_download: bool = True) -> UspsArrays:
    """Load USPS from ``data_dir``, ``$HPSTUDY_DATA_DIR`` or the cache directory.

    See the module docstring for the lookup order and the pixel range convention.
    Raises :class:`DataError` when the data cannot be found, fetched or read.
    """
    directory = _resolve_dir(data_dir)
    h5_path = directory / H5_NAME
    if h5_path.is_file():
        logger.info("loading USPS from %s", h5_path)
        return _load_h5(h5_path)
    missing = [name for name in LIBSVM_NAMES.values() if not (directory / name).is_file()]
    if missing:
        _fetch(directory, missing, allow_download)
    logger.info("loading USPS from the LIBSVM files in %s", directory)
    return _load_libsvm(directory)


def _resolve_dir(data_dir: Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _describe(exc: BaseException) -> str:
    detail = _one_line(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _not_found(directory: Path, reason: str) -> DataError:
    return DataError(
        f"USPS data not found in {directory} ({_one_line(reason)}); put {H5_NAME}, or "
        f"{' and '.join(LIBSVM_NAMES.values())}, in that directory, or set "
        f"{DATA_DIR_ENV} or --data-dir to a directory that has them"
    )


def _corrupt(path: Path, problem: str, fix: str) -> DataError:
    return DataError(f"{path} is truncated or corrupt ({_one_line(problem)}); {fix}")


def _fetch(directory: Path, names: list[str], allow_download: bool) -> None:
    """Download the missing LIBSVM files into ``directory`` or raise DataError."""
    if not allow_download:
        raise _not_found(directory, "downloading is switched off")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            _download(URL_BASE + name, directory / name)
    except DataError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise _not_found(directory, f"download failed: {_describe(exc)}") from exc


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` via a temporary file, renamed once the md5 matches."""
    logger.info("downloading %s to %s", url, dest)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    expected = MD5[dest.name]
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"{dest} downloaded from {url} has md5 {digest.hexdigest()}, expected "
            f"{expected}; the download was deleted: try again, or fetch the file "
            f"yourself and put it in {dest.parent}"
        )
    os.replace(tmp, dest)


def _load_h5(path: Path) -> UspsArrays:
    try:
        with h5py.File(path, "r") as handle:
            parts = {split: _read_h5_split(handle, split) for split in EXPECTED_ROWS}
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise _corrupt(path, _describe(exc), _H5_FIX) from exc
    return _assemble(path, parts, _H5_FIX)


def _read_h5_split(handle: h5py.File, split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for key in (f"{split}/data", f"{split}/target"):
        node = handle.get(key)
        if not isinstance(node, h5py.Dataset):
            raise TypeError(f"{key} is missing or is not a dataset")
        arrays.append(np.asarray(node[()]))
    return np.asarray(arrays[0], dtype=np.float32), _as_labels(arrays[1])


def _as_labels(raw: np.ndarray) -> np.ndarray:
    """Return ``raw`` as int64, refusing non-numeric or non-integral values."""
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.int64)
    values = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise ValueError("labels are not whole numbers")
    return values.astype(np.int64)


def _load_libsvm(directory: Path) -> UspsArrays:
    parts = {}
    for split, name in LIBSVM_NAMES.items():
        path = directory / name
        parts[split] = _parse_libsvm(path)
        problem = _split_problem(split, *parts[split])
        if problem is not None:
            raise _corrupt(path, problem, _BZ2_FIX)
    return UspsArrays(*parts["train"], *parts["test"])


def _parse_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one bz2 LIBSVM file; pixels are mapped to [0, 1] and labels to 0-9."""
    rows: list[np.ndarray] = []
    labels: list[int] = []
    try:
        with bz2.open(path, "rt", encoding="ascii") as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    label, pixels = _parse_line(line, lineno)
                    labels.append(label)
                    rows.append(pixels)
    except (OSError, EOFError, ValueError) as exc:
        raise _corrupt(path, _describe(exc), _BZ2_FIX) from exc
    x = np.stack(rows) if rows else np.empty((0, N_PIXELS))
    return ((x + 1.0) / 2.0).astype(np.float32), np.asarray(labels, dtype=np.int64)


def _parse_line(line: str, lineno: int) -> tuple[int, np.ndarray]:
    """Parse ``label idx:val ...`` into (digit 0-9, 256 raw values in [-1, 1])."""
    label_text, *tokens = line.split()
    pixels = np.full(N_PIXELS, -1.0)
    try:
        label = _parse_label(label_text)
        for token in tokens:
            index, value = token.split(":")
            pixels[_pixel_index(index)] = float(value)
    except ValueError as exc:
        raise ValueError(f"line {lineno}: {_one_line(exc)}") from exc
    return label, pixels


def _parse_label(text: str) -> int:
    """Map a LIBSVM label 1-10 to the digit 0-9."""
    value = float(text)
    if not math.isfinite(value) or value != round(value) or not 1 <= value <= N_CLASSES:
        raise ValueError(f"label {text!r} is not in 1..{N_CLASSES}")
    return int(value) - 1


def _pixel_index(text: str) -> int:
    """Map a LIBSVM pixel index 1-256 to the array position 0-255."""
    index = int(text)
    if not 1 <= index <= N_PIXELS:
        raise ValueError(f"pixel index {index} is not in 1..{N_PIXELS}")
    return index - 1


def _split_problem(split: str, x: np.ndarray, y: np.ndarray) -> str | None:
    """Describe what is wrong with one split's arrays, or return None if nothing is."""
    rows = EXPECTED_ROWS[split]
    if x.shape != (rows, N_PIXELS):
        return f"{split} images have shape {x.shape}, expected {(rows, N_PIXELS)}"
    if y.shape != (rows,):
        return f"{split} labels have shape {y.shape}, expected {(rows,)}"
    if not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0:
        return f"{split} pixel values are not all in [0, 1] ([-1, 1] in LIBSVM files)"
    if y.min() < 0 or y.max() >= N_CLASSES:
        return f"{split} labels are not all in 0..{N_CLASSES - 1}"
    return None


def _assemble(path: Path, parts: dict[str, tuple[np.ndarray, np.ndarray]], fix: str) -> UspsArrays:
    for split, (x, y) in parts.items():
        problem = _split_problem(split, x, y)
        if problem is not None:
            raise _corrupt(path, problem, fix)
    return UspsArrays(*parts["train"], *parts["test"])
