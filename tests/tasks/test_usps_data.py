"""Tests for hpstudy.tasks.usps_data: sources, lookup order, download and errors."""

import bz2
import hashlib
import http.client
import io
import os
import re
import urllib.error
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpstudy.errors import DataError
from hpstudy.tasks import usps_data
from hpstudy.tasks.usps_data import UspsArrays, default_cache_dir, load_usps

REAL_DATA_DIR = Path(
    os.environ.get("HPSTUDY_DATA_DIR")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
).resolve()
SMALL_ROWS = {"train": 6, "test": 4}

Parts = dict[str, tuple[np.ndarray, np.ndarray]]


def _parts(seed: int = 0) -> Parts:
    """Small splits with pixels on a 1/8 grid (exact in both formats), many zeros."""
    rng = np.random.default_rng(seed)
    parts = {}
    for split, rows in SMALL_ROWS.items():
        x = rng.integers(0, 9, size=(rows, usps_data.N_PIXELS)) / 8.0
        x[:, ::3] = 0.0
        y = rng.integers(0, 10, size=rows)
        y[0], y[-1] = 0, 9
        parts[split] = (x.astype(np.float32), y.astype(np.int64))
    return parts


def _write_h5(directory: Path, parts: Parts) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / usps_data.H5_NAME
    with h5py.File(path, "w") as handle:
        for split, (x, y) in parts.items():
            handle[f"{split}/data"] = x
            integral = np.issubdtype(y.dtype, np.integer)
            handle[f"{split}/target"] = y.astype(np.int32) if integral else y
    return path


def _libsvm_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """LIBSVM text (labels 1-10, pixels in [-1, 1], -1 left out), bz2-compressed."""
    lines = []
    for image, label in zip(x, y, strict=True):
        pairs = [f"{i + 1}:{2.0 * v - 1.0:g}" for i, v in enumerate(image) if v != 0]
        lines.append(" ".join([str(label + 1), *pairs]))
    return bz2.compress(("\n".join(lines) + "\n").encode("ascii"))


def _libsvm_files(parts: Parts) -> dict[str, bytes]:
    return {name: _libsvm_bytes(*parts[split]) for split, name in usps_data.LIBSVM_NAMES.items()}


def _write_files(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (directory / name).write_bytes(payload)


def _assert_equal(arrays: UspsArrays, parts: Parts) -> None:
    for split, (x, y) in parts.items():
        got_x, got_y = getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}")
        assert got_x.dtype == np.float32 and got_y.dtype == np.int64
        np.testing.assert_array_equal(got_x, x)
        np.testing.assert_array_equal(got_y, y)


def _one_line(exc: pytest.ExceptionInfo[DataError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "\r" not in message
    return message


class _FakeNet:
    """Stands in for urllib.request.urlopen, serving bytes by file name."""

    def __init__(self, files: dict[str, bytes], fail: Exception | None = None) -> None:
        self.files, self.fail = files, fail
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float | None = None) -> io.BytesIO:
        self.calls.append(url)
        assert url.startswith(usps_data.URL_BASE) and timeout
        if self.fail is not None:
            raise self.fail
        return io.BytesIO(self.files[url.rsplit("/", 1)[1]])


class _BrokenStream(io.BytesIO):
    """A response that delivers some bytes and then drops the connection."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 0:
            raise ConnectionResetError("connection reset by peer")
        return super().read(8)


def _no_network(url: str, timeout: float | None = None) -> None:
    raise AssertionError(f"unexpected network access to {url}")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HPSTUDY_DATA_DIR", raising=False)
    monkeypatch.setenv("HPSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("urllib.request.urlopen", _no_network)


@pytest.fixture()
def small(monkeypatch: pytest.MonkeyPatch) -> Parts:
    monkeypatch.setattr(usps_data, "EXPECTED_ROWS", dict(SMALL_ROWS))
    return _parts()


def test_real_usps_h5() -> None:
    if not (REAL_DATA_DIR / usps_data.H5_NAME).is_file():
        pytest.skip(f"no {usps_data.H5_NAME} in {REAL_DATA_DIR}")
    data = load_usps(REAL_DATA_DIR, allow_download=False)
    for x, y, rows in [
        (data.x_train, data.y_train, 7291),
        (data.x_test, data.y_test, 2007),
    ]:
        assert x.shape == (rows, 256) and x.dtype == np.float32
        assert y.shape == (rows,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        counts = np.bincount(y, minlength=10)
        assert counts.size == 10 and counts.min() > 0.05 * rows
        assert counts.max() < 0.2 * rows


def test_libsvm_parses_to_same_arrays_as_h5(small: Parts, tmp_path: Path) -> None:
    _write_h5(tmp_path / "h5", small)
    _write_files(tmp_path / "svm", _libsvm_files(small))
    from_h5 = load_usps(tmp_path / "h5", allow_download=False)
    from_svm = load_usps(tmp_path / "svm", allow_download=False)
    _assert_equal(from_h5, small)
    _assert_equal(from_svm, small)
    assert from_svm.x_train.min() == 0.0 and from_svm.x_train.max() == 1.0


def test_h5_is_preferred_over_libsvm(small: Parts, tmp_path: Path) -> None:
    _write_h5(tmp_path, small)
    _write_files(tmp_path, {name: b"not bz2" for name in usps_data.LIBSVM_NAMES.values()})
    _assert_equal(load_usps(tmp_path), small)


@pytest.mark.parametrize("winner", ["argument", "env", "cache"])
def test_lookup_order(
    winner: str, small: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = ["argument", "env", "cache"]
    for seed, name in enumerate(order[order.index(winner) :]):
        _write_h5(tmp_path / name, _parts(seed))
    monkeypatch.setenv("HPSTUDY_CACHE_DIR", str(tmp_path / "cache"))
    if winner != "cache":
        monkeypatch.setenv("HPSTUDY_DATA_DIR", str(tmp_path / "env"))
    argument = tmp_path / "argument" if winner == "argument" else None
    _assert_equal(load_usps(argument, allow_download=False), _parts(0))


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HPSTUDY_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HPSTUDY_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "hpstudy"


def test_download_fetches_verifies_and_caches(
    small: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _libsvm_files(small)
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr(usps_data, "MD5", md5)
    net = _FakeNet(files)
    monkeypatch.setattr("urllib.request.urlopen", net)
    _assert_equal(load_usps(), small)
    cache = tmp_path / "cache"
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)
    assert len(net.calls) == 2
    _assert_equal(load_usps(), small)
    assert len(net.calls) == 2


def test_download_fetches_only_the_missing_file(
    small: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _libsvm_files(small)
    monkeypatch.setattr(usps_data, "MD5", {n: hashlib.md5(d).hexdigest() for n, d in files.items()})
    _write_files(tmp_path, {"usps.bz2": files["usps.bz2"]})
    net = _FakeNet(files)
    monkeypatch.setattr("urllib.request.urlopen", net)
    _assert_equal(load_usps(tmp_path), small)
    assert net.calls == [usps_data.URL_BASE + "usps.t.bz2"]


def test_md5_mismatch_deletes_download(
    small: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("urllib.request.urlopen", _FakeNet(_libsvm_files(small)))
    with pytest.raises(DataError, match=r"usps\.bz2 downloaded from .* has md5") as exc:
        load_usps(tmp_path / "dl")
    message = _one_line(exc)
    assert usps_data.MD5["usps.bz2"] in message and "try again" in message
    assert list((tmp_path / "dl").iterdir()) == []


@pytest.mark.parametrize(
    ("fail", "stream", "reason"),
    [
        (None, None, "downloading is switched off"),
        (urllib.error.URLError("no route to host"), None, "URLError"),
        (TimeoutError("timed out"), None, "TimeoutError"),
        (http.client.IncompleteRead(b"x"), None, "IncompleteRead"),
        (None, _BrokenStream(b"0123456789abcdef"), "connection reset"),
    ],
)
def test_missing_data_without_download(
    fail: Exception | None,
    stream: io.BytesIO | None,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = tmp_path / "empty"
    directory.mkdir()
    net = _FakeNet({}, fail)
    if stream is not None:
        monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: stream)
    else:
        monkeypatch.setattr("urllib.request.urlopen", net)
    allow = fail is not None or stream is not None
    with pytest.raises(DataError, match=re.escape(f"not found in {directory} (")) as exc:
        load_usps(directory, allow_download=allow)
    message = _one_line(exc)
    for hint in [reason, "usps.h5", "usps.bz2 and usps.t.bz2", "HPSTUDY_DATA_DIR"]:
        assert hint in message
    assert "--data-dir" in message
    assert list(directory.iterdir()) == []


def _h5_with(mutate: Callable[[Parts], None]) -> Callable[[Path, Parts], None]:
    def write(directory: Path, parts: Parts) -> None:
        mutate(parts)
        _write_h5(directory, parts)

    return write


def _truncated_h5(directory: Path, parts: Parts) -> None:
    path = _write_h5(directory, parts)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _h5_without(key: str, as_group: bool) -> Callable[[Path, Parts], None]:
    def write(directory: Path, parts: Parts) -> None:
        path = _write_h5(directory, parts)
        with h5py.File(path, "a") as handle:
            del handle[key]
            if as_group:
                handle.create_group(key)

    return write


def _set(split: str, index: int, value: np.ndarray) -> Callable[[Parts], None]:
    def mutate(parts: Parts) -> None:
        pair = list(parts[split])
        pair[index] = value
        parts[split] = (pair[0], pair[1])

    return mutate


def _garbage_h5(directory: Path, parts: Parts) -> None:
    (directory / usps_data.H5_NAME).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)


def _pixel(value: float) -> Callable[[Parts], None]:
    def mutate(parts: Parts) -> None:
        parts["test"][0][1, 2] = value

    return mutate


def _label(value: int) -> Callable[[Parts], None]:
    def mutate(parts: Parts) -> None:
        parts["train"][1][3] = value

    return mutate


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (_truncated_h5, "OSError"),
        (_garbage_h5, "OSError"),
        (_h5_without("test/target", False), "test/target is missing"),
        (_h5_without("train/data", True), "train/data is missing"),
        (_h5_with(_set("train", 0, np.zeros((6, 255)))), r"shape \(6, 255\)"),
        (_h5_with(_set("test", 0, np.zeros((3, 256)))), r"shape \(3, 256\)"),
        (_h5_with(_set("test", 1, np.zeros(5))), r"test labels have shape \(5,\)"),
        (_h5_with(_label(10)), r"train labels are not all in 0\.\.9"),
        (_h5_with(_label(-1)), r"train labels are not all in 0\.\.9"),
        (_h5_with(_set("train", 1, np.full(6, 1.5))), "not whole numbers"),
        (_h5_with(_pixel(1.5)), r"test pixel values are not all in \[0, 1\]"),
        (_h5_with(_pixel(np.nan)), r"test pixel values are not all in \[0, 1\]"),
    ],
)
def test_corrupt_h5(
    write: Callable[[Path, Parts], None], problem: str, small: Parts, tmp_path: Path
) -> None:
    tmp_path.joinpath("d").mkdir()
    write(tmp_path / "d", small)
    path = re.escape(str(tmp_path / "d" / "usps.h5"))
    with pytest.raises(DataError, match=f"^{path} is truncated or corrupt .*{problem}"):
        load_usps(tmp_path / "d")
    with pytest.raises(DataError) as exc:
        load_usps(tmp_path / "d")
    assert "replace it with a good copy" in _one_line(exc)


def _text(body: str) -> bytes:
    return bz2.compress(body.encode("latin-1"))


def _good_lines(parts: Parts) -> list[str]:
    return bz2.decompress(_libsvm_bytes(*parts["train"])).decode().splitlines()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (lambda p: b"plain text, not bz2", "OSError: Invalid data stream"),
        (lambda p: _libsvm_bytes(*p["train"])[:-20], "EOFError"),
        (lambda p: _text("3 1:0.5 oops\n"), "line 1: "),
        (lambda p: _text("\n".join(_good_lines(p)[:2] + ["2 0:0.5"])), "line 3: pixel"),
        (lambda p: _text("2 257:0.5\n"), r"pixel index 257 is not in 1\.\.256"),
        (lambda p: _text("2 1:x\n"), "line 1: could not convert"),
        (lambda p: _text("0 1:0.5\n"), r"label '0' is not in 1\.\.10"),
        (lambda p: _text("11 1:0.5\n"), r"label '11' is not in 1\.\.10"),
        (lambda p: _text("2.5 1:0.5\n"), r"label '2\.5'"),
        (lambda p: _text("nan 1:0.5\n"), r"label 'nan'"),
        (lambda p: _text("2 1:\xe9\n"), "UnicodeDecodeError"),
        (lambda p: _text("\n".join(_good_lines(p)[:5])), r"shape \(5, 256\)"),
        (lambda p: _text("\n".join(["1 4:3"] * 6)), r"train pixel values"),
    ],
    ids=[
        "not-bz2",
        "truncated-bz2",
        "bad-token",
        "index-0",
        "index-257",
        "bad-value",
        "label-0",
        "label-11",
        "label-fraction",
        "label-nan",
        "non-ascii",
        "too-few-rows",
        "value-out-of-range",
    ],
)
def test_bad_libsvm(
    payload: Callable[[Parts], bytes], problem: str, small: Parts, tmp_path: Path
) -> None:
    files = _libsvm_files(small)
    files["usps.bz2"] = payload(small)
    _write_files(tmp_path, files)
    path = re.escape(str(tmp_path / "usps.bz2"))
    with pytest.raises(DataError, match=f"^{path} is truncated or corrupt .*{problem}"):
        load_usps(tmp_path)
    with pytest.raises(DataError) as exc:
        load_usps(tmp_path)
    assert "downloaded again" in _one_line(exc)
