"""report.html in a real browser: headless Chromium must load every embedded figure.

Skipped locally when Chromium is not installed; with the environment variable CI set, a
missing Chromium is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_synthetic import ablation_study, random_study

from hpstudy.report import write_report

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
    "--dump-dom",
]
PROBE = (
    "<script>window.addEventListener('load', function () {"
    " var imgs = Array.prototype.slice.call(document.images);"
    " var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });"
    " document.body.setAttribute('data-images', imgs.length + ':' + ok.length); });</script>"
)


def _candidates() -> list[str]:
    names = [os.environ.get("HPSTUDY_CHROMIUM", ""), "/usr/bin/chromium"]
    names += [shutil.which(n) or "" for n in ("chromium", "chromium-browser")]
    return [n for n in names if n]


def _chromium() -> str:
    """The Chromium binary; skips (locally) or fails (CI) when there is none."""
    found = next((c for c in _candidates() if Path(c).is_file()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is required in CI (install the 'chromium' package)")
        pytest.skip("headless Chromium is not installed")
    return found


def _loaded_images(page: Path, profile: Path) -> tuple[int, int]:
    """(images, images loaded with naturalWidth > 0) once the page has loaded."""
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [_chromium(), *FLAGS, f"--user-data-dir={profile}", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r'data-images="(\d+):(\d+)"', result.stdout)
    assert match, f"no probe result (Chromium exit {result.returncode}): {result.stderr[-500:]}"
    return int(match.group(1)), int(match.group(2))


def test_html_every_image_loads_in_chromium(tmp_path: Path) -> None:
    """Every <img> of report.html decodes in Chromium, and a broken one would be caught."""
    paths = write_report([ablation_study(3), random_study(8)], tmp_path / "out")
    page = tmp_path / "out" / "report.html"
    figures = sum(p.suffix == ".png" for p in paths)
    assert _loaded_images(page, tmp_path / "profile") == (figures, figures)
    broken = tmp_path / "out" / "broken.html"
    html = page.read_text(encoding="utf-8")
    broken.write_text(html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    assert _loaded_images(broken, tmp_path / "profile") == (figures, figures - 1)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_chromium_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci, outcome) -> None:
    """Without Chromium the browser test fails when CI is set and skips otherwise."""
    monkeypatch.setattr(sys.modules[__name__], "_candidates", lambda: [])
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        _chromium()
