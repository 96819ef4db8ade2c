"""The memo as a reader sees it: Chinese names drawn (not empty boxes), A4 pages, whole ids.

Tofu, the box a renderer draws for a character its fonts lack, is the same box for every
character. So a name is drawn when two names that differ only in their Chinese characters give
different pixels; each check also runs its control, the same text without the font, and asserts
that there the two do look alike, so that the comparison can fail.

The charts are checked here with matplotlib. The HTML is printed by headless Chromium when one
is installed (``DPV_CHROMIUM`` names the binary, or ``chromium``, ``chromium-headless-shell``,
``google-chrome`` on the PATH; Debian: ``apt-get install chromium-headless-shell``); without one
those tests skip and say so.
"""

from __future__ import annotations

import base64
import glob
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from matplotlib import rc_context
from PIL import Image

from tests.test_valuation.pledges import product, request
from valuation import assess_pledge
from valuation.pledge import charts
from valuation.pledge.charts import draw_all, reconciliation_chart
from valuation.pledge.memo import render_memo
from valuation.schema.pledge import Assessment

# Two names of the same length and layout whose Chinese characters all differ.
NAME_A = "浙江交通数据产品"
NAME_B = "湖南物流信息服务"
A4_POINTS = (595.28, 841.89)


@pytest.fixture(scope="module")
def assessment() -> Assessment:
    doc = request([{"product": product("ZJ-DA-2025-000087", name=NAME_A)}], paths=500)
    doc["borrower"]["name"] = "杭州示例数据科技有限公司"
    return assess_pledge(doc)


def _named(a: Assessment, name: str) -> Assessment:
    item = a.collateral[0].model_copy(update={"name": name})
    return a.model_copy(update={"collateral": [item]})


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _chart_pixels(a: Assessment) -> np.ndarray:
    return _pixels(base64.b64decode(reconciliation_chart(a)))


@contextmanager
def _latin_font_only() -> Iterator[None]:
    with rc_context({"font.family": ["DejaVu Sans"]}):
        yield


def test_chart_draws_the_chinese_name(assessment: Assessment, monkeypatch: pytest.MonkeyPatch):
    a, b = _named(assessment, NAME_A), _named(assessment, NAME_B)
    drawn_a, drawn_b = _chart_pixels(a), _chart_pixels(b)
    assert drawn_a.shape == drawn_b.shape
    differing = np.any(drawn_a != drawn_b, axis=-1)
    # only the label differs, and it differs in many pixels (eight distinct glyphs)
    assert differing.sum() > 200
    columns = np.flatnonzero(differing.any(axis=0))
    assert columns.max() < drawn_a.shape[1] // 2  # in the label margin, left of the plot

    # control: DejaVu Sans alone has no Chinese glyph, and its boxes look alike
    monkeypatch.setattr(charts, "chart_fonts", _latin_font_only)
    with pytest.warns(UserWarning, match="missing from font"):
        tofu_a, tofu_b = _chart_pixels(a), _chart_pixels(b)
    assert np.array_equal(tofu_a, tofu_b)
    assert not np.array_equal(tofu_a, drawn_a)


# --- headless Chromium ---------------------------------------------------------------------------

_CANDIDATES = (
    "chromium",
    "chromium-browser",
    "chromium-headless-shell",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "headless_shell",
)


def _chromium() -> str | None:
    if os.environ.get("DPV_CHROMIUM"):
        return os.environ["DPV_CHROMIUM"]
    for name in _CANDIDATES:
        if path := shutil.which(name):
            return path
    # a browser that `playwright install chromium` fetched
    cache = os.path.expanduser("~/.cache/ms-playwright")
    found = sorted(glob.glob(f"{cache}/chromium*/chrome-*/chrome"))
    found += sorted(glob.glob(f"{cache}/chromium_headless_shell*/chrome-*/headless_shell"))
    return found[-1] if found else None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium here (set DPV_CHROMIUM, or install Debian's "
    "chromium-headless-shell): the memo's print rendering is not checked",
)


def _run_chromium(tmp: Path, html: str, *flags: str) -> subprocess.CompletedProcess[str]:
    page = tmp / "memo.html"
    page.write_text(html, encoding="utf-8")
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        *flags,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _screenshot(tmp: Path, html: str) -> np.ndarray:
    shot = tmp / "shot.png"
    shot.unlink(missing_ok=True)
    _run_chromium(tmp, html, f"--screenshot={shot}", "--window-size=800,900")
    return _pixels(shot.read_bytes())


def _pdf(tmp: Path, html: str) -> bytes:
    pdf = tmp / "memo.pdf"
    _run_chromium(tmp, html, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    return pdf.read_bytes()


def _without_embedded_font(html: str) -> str:
    return re.sub(r"@font-face \{.*?\}", "", html, count=1, flags=re.S)


def _system_has_chinese_font() -> bool:
    if shutil.which("fc-list") is None:
        return True  # cannot tell: do not assert the control
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


@pytest.fixture(scope="module")
def two_memos(assessment: Assessment) -> tuple[str, str]:
    """The memo with NAME_A and with NAME_B: the same chart images, only the HTML text differs."""
    images = draw_all(assessment)
    return (
        render_memo(_named(assessment, NAME_A), charts=images),
        render_memo(_named(assessment, NAME_B), charts=images),
    )


@needs_chromium
def test_chromium_draws_the_chinese_names(two_memos: tuple[str, str], tmp_path: Path):
    shot_a, shot_b = (_screenshot(tmp_path, html) for html in two_memos)
    assert shot_a.shape == shot_b.shape
    differing = np.any(shot_a != shot_b, axis=-1)
    assert differing.sum() > 200  # eight distinct glyphs, not eight alike boxes
    rows = np.flatnonzero(differing.any(axis=1))
    assert rows.max() - rows.min() < 60  # in one place: the collateral table's name cell


@needs_chromium
@pytest.mark.skipif(
    _system_has_chinese_font(),
    reason="this machine has a Chinese system font (or no fc-list to tell): "
    "the empty boxes of a missing font cannot be shown here",
)
def test_chromium_without_the_embedded_font_draws_alike_boxes(
    two_memos: tuple[str, str], tmp_path: Path
):
    # the control of the test above: the same memos without their font look alike
    shot_a, shot_b = (_screenshot(tmp_path, _without_embedded_font(html)) for html in two_memos)
    assert np.array_equal(shot_a, shot_b)


@needs_chromium
def test_chromium_prints_a4_pages_with_the_font(assessment: Assessment, tmp_path: Path):
    pdf = _pdf(tmp_path, render_memo(assessment))
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert len(boxes) >= 2  # several pages
    for width, height in boxes:
        assert (float(width), float(height)) == pytest.approx(A4_POINTS, abs=1.0)
    # the glyphs come from the embedded Noto Sans SC, whatever the machine has installed
    assert b"NotoSansSC" in pdf


# Reports, once the page has loaded: id elements laid out on more than one line, and the widest
# table's right edge against the page's width.
_PROBE = """<script>addEventListener("load", () => {
  const ids = [...document.querySelectorAll(".id")];
  const broken = ids.filter((e) => e.getClientRects().length > 1).map((e) => e.textContent);
  const right = Math.max(...[...document.querySelectorAll("table")]
    .map((t) => t.getBoundingClientRect().right));
  document.body.setAttribute("data-probe", JSON.stringify(
    {ids: ids.length, broken, right, width: document.documentElement.clientWidth}));
});</script>"""


@needs_chromium
def test_ids_stay_whole_at_the_width_of_an_a4_page(assessment: Assessment, tmp_path: Path):
    import json

    ids = ("ZJ-DA-2025-000087", "BJ-DP-2026-000047-EXTRA-LONG-IDENTIFIER")
    items = [
        assessment.collateral[0].model_copy(update={"product_id": pid, "name": NAME_A})
        for pid in ids
    ]
    a = assessment.model_copy(update={"collateral": items})
    html = render_memo(a, charts=draw_all(assessment)).replace("</body>", _PROBE + "</body>")
    # 210 mm less the 28 mm of side margins at 96 px per inch (screen type, larger than print)
    dom = _run_chromium(tmp_path, html, "--dump-dom", "--window-size=688,1000").stdout
    found = re.search(r'data-probe="([^"]+)"', dom)
    assert found is not None
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["ids"] >= 6
    assert probe["broken"] == []
    assert probe["right"] <= probe["width"]
