"""bench/run.py rewrites one section of bench/results.md and keeps the others."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_run"]


RF3 = "## Search with pruning: usps, random, 64 configurations, full epochs (`bench/search.py`)"
RF4 = ("## Search with pruning: usps, random, 64 configurations, full epochs, reduction factor 4 "
       "(`bench/search.py`)")


def test_a_section_with_a_longer_title_is_its_own(bench_run):
    text = "\n".join(["# results", "", RF3, "", "old rf3", "", RF4, "", "rf4 kept", "",
                      "## later", "", "later kept", ""])
    out = bench_run.replace_section(text, [RF3, "", "new rf3"])
    assert "old rf3" not in out and "new rf3" in out
    assert "rf4 kept" in out and "later kept" in out
    assert out.index("new rf3") < out.index(RF4) < out.index("## later")


def test_a_new_title_is_appended(bench_run):
    out = bench_run.replace_section("# results\n\n" + RF3 + "\n\nrf3 kept\n", [RF4, "", "rf4"])
    assert out.endswith(RF4 + "\n\nrf4\n") and "rf3 kept" in out


def test_the_shorter_title_is_found_after_the_longer(bench_run):
    text = "\n".join(["# results", "", RF4, "", "rf4 kept", "", RF3, "", "old rf3", ""])
    out = bench_run.replace_section(text, [RF3, "", "new rf3"])
    assert "rf4 kept" in out and "old rf3" not in out and "new rf3" in out
