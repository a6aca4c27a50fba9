"""The interactive review page, loaded and driven in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rtplan
from rtplan.guidance import ISODOSE_PALETTE, MIN_DELTA_E, delta_e
from rtplan.report import review_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

_CAPTURE = """<script>window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
const __ce = console.error;
console.error = (...a) => {
  window.__errors.push(a.map(String).join(" "));
  __ce.apply(console, a);
};
</script>"""

_DRIVE = """<script>
(function () {
  const R = {errors: window.__errors, ready: document.body.getAttribute("data-ready")};
  const D = JSON.parse(document.getElementById("rtplan-data").textContent);
  const ax = document.querySelector("#axial canvas");
  const cap = document.querySelector("#axial .caption");
  const pixels = (c) => c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const count = (c, col) => {
    const d = pixels(c); let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i] === col[0] && d[i + 1] === col[1] && d[i + 2] === col[2]) n++;
    return n;
  };
  const slider = document.querySelector("#axial input[type=range]");
  slider.value = SLICE; slider.dispatchEvent(new Event("input"));
  R.caption0 = cap.textContent;
  const before = Array.from(pixels(ax));
  for (let n = 0; n < 3; n++)
    ax.dispatchEvent(new WheelEvent("wheel", {deltaY: 120, bubbles: true, cancelable: true}));
  R.caption1 = cap.textContent;
  const after = pixels(ax);
  R.changed = before.reduce((n, v, i) => n + (v !== after[i] ? 1 : 0), 0);
  for (let n = 0; n < 3; n++)
    ax.dispatchEvent(new WheelEvent("wheel", {deltaY: -120, bubbles: true, cancelable: true}));
  const col = D.structures.find((s) => s.name === NAME).color;
  R.before_toggle = count(ax, col);
  document.querySelector('input[data-structure="' + NAME + '"]').click();
  R.after_toggle = count(ax, col);
  R.levels = D.dose ? D.dose.levels.map((l) => count(ax, l.color)) : [];
  document.querySelector('input[data-isodose="100"]').click();
  R.after_isodose_toggle = count(ax, D.dose.levels[1].color);
  const r = ax.getBoundingClientRect();
  ax.dispatchEvent(new MouseEvent("mousemove",
    {clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true}));
  R.readout = document.getElementById("readout").textContent;
  document.querySelector('button[data-window="bone"]').click();
  R.bone_caption = cap.textContent;
  const needle = document.querySelector("#needle canvas");
  R.needle0 = document.querySelector("#needle .caption").textContent;
  needle.dispatchEvent(new WheelEvent("wheel", {deltaY: 120, bubbles: true, cancelable: true}));
  R.needle1 = document.querySelector("#needle .caption").textContent;
  R.words = document.getElementById("needle-words").textContent;
  const pre = document.createElement("pre"); pre.id = "test-result";
  pre.textContent = JSON.stringify(R); document.body.append(pre);
})();
</script>"""

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *_FLAGS, *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def _drive(page: Path, tmp: Path, name: str, slice_index: int) -> dict[str, Any]:
    """Load the page with the driving script appended; the results it wrote."""
    text = page.read_text(encoding="utf-8")
    drive = _DRIVE.replace("SLICE", str(slice_index)).replace("NAME", json.dumps(name))
    text = text.replace("<head>", "<head>" + _CAPTURE, 1).replace("</body>", drive + "</body>")
    driven = tmp / "driven.html"
    driven.write_text(text, encoding="utf-8")
    dom = _chromium("--virtual-time-budget=5000", "--dump-dom", driven.as_uri())
    found = re.search(r'<pre id="test-result">(.*?)</pre>', dom, re.S)
    assert found, "the driving script did not finish"
    result: dict[str, Any] = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<"))
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_page_script_parses(tmp_path: Path) -> None:
    """The page script is valid JavaScript (a quick check before any browser)."""
    from rtplan.report._page_assets import PAGE_SCRIPT

    script = tmp_path / "page.js"
    script.write_text(PAGE_SCRIPT, encoding="utf-8")
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def thigh_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, rtplan.Study, int]:
    """The thigh study's page with a dose falling off around the PTV (50 Gy inside)."""
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    ptv = study.structures["PTV"]
    grid = study.ct.grid
    r_mm = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    dose = rtplan.Dose(array=52.0 * np.exp(-((r_mm / 45.0) ** 4)), grid=grid)
    # a needle from the lateral skin to the PTV centre, tilted 20° towards the head
    target = [float(v) for v in ptv.centroid_mm]
    entry = [target[0] - 60.0, target[1], target[2] - 60.0 * np.tan(np.radians(20.0))]
    row = {f"{end}_{a}_mm": p[i] for end, p in (("entry", entry), ("target", target))
           for i, a in enumerate("xyz")}  # fmt: skip
    page = review_page(
        tmp_path_factory.mktemp("page") / "review.html",
        study,
        dose=dose,
        prescription_gy=50.0,
        trajectories=[{"rank": 1, **row}],
    )
    k = round(float(grid.mm_to_index(ptv.centroid_mm[np.newaxis])[0, 2]))
    return page, study, k


def test_page_is_self_contained(thigh_page: tuple[Path, rtplan.Study, int]) -> None:
    text = thigh_page[0].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "fetch(" not in text
    assert "XMLHttpRequest" not in text
    data = json.loads(
        re.search(r'id="rtplan-data">(.*?)</script>', text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert data["ct"]["shape"] == [40, 128, 128]
    names = [s["name"] for s in data["structures"]]
    assert "PTV" in names
    assert "Femur" in names
    # every structure colour is distinct from every isodose line drawn with it
    iso = [lev["color"] for lev in data["dose"]["levels"]]
    for s in data["structures"]:
        assert float(np.min(delta_e(s["color"], iso))) >= MIN_DELTA_E, s["name"]


@needs_chromium
def test_page_in_chromium(thigh_page: tuple[Path, rtplan.Study, int], tmp_path: Path) -> None:
    page, _study, k = thigh_page
    r = _drive(page, tmp_path, "PTV", k)
    assert r["errors"] == []
    assert r["ready"] == "1"
    # the wheel scrolled three slices, and the picture changed with them
    first = int(re.search(r"slice (\d+)/", r["caption0"]).group(1))  # type: ignore[union-attr]
    then = int(re.search(r"slice (\d+)/", r["caption1"]).group(1))  # type: ignore[union-attr]
    assert first == k + 1
    assert then == k + 4
    assert r["changed"] > 1000
    # the PTV outline is drawn, and gone once its box is unticked
    assert r["before_toggle"] > 50
    assert r["after_toggle"] == 0
    # the 100 % line (yellow) is drawn, and gone once unticked
    assert r["levels"][1] > 50
    assert r["after_isodose_toggle"] == 0
    assert re.search(r"LPS \(-?\d+\.\d, -?\d+\.\d, -?\d+\.\d\) mm · -?\d+ HU · dose", r["readout"])
    assert "W2000 L500" in r["bone_caption"]
    # the needle plane view opens through the needle and scrolls along its normal
    assert r["needle0"].startswith("Needle plane of #1 +0.0 mm")
    assert r["needle1"].startswith("Needle plane of #1 +1.6 mm")  # one step: the finest spacing
    assert r["words"].startswith(
        "90° from vertical, from the patient's right; tilt 20° to the head"
    )


@needs_chromium
def test_page_screenshot_not_blank(
    thigh_page: tuple[Path, rtplan.Study, int], tmp_path: Path
) -> None:
    from PIL import Image as PILImage

    shot = tmp_path / "review.png"
    _chromium(
        "--window-size=1500,1000",
        "--virtual-time-budget=5000",
        f"--screenshot={shot}",
        thigh_page[0].as_uri(),
    )
    rgb = np.asarray(PILImage.open(shot).convert("RGB"), dtype=np.int64)
    assert rgb.shape[:2] == (1000, 1500)
    # CT grey levels, structure and isodose colours: far from one flat colour
    assert rgb.std() > 20
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 500
    yellow = np.all(rgb == ISODOSE_PALETTE[100.0], axis=-1).sum()
    assert yellow > 50  # the 100 % isodose is on screen


@needs_chromium
def test_static_report_in_chromium_has_no_colour_clash(
    thigh_page: tuple[Path, rtplan.Study, int], tmp_path: Path
) -> None:
    """The static report of the thigh with a dose: every structure drawn in the isodose
    views is at least MIN_DELTA_E from every isodose line, and the page renders."""
    import base64
    import io

    from PIL import Image as PILImage

    from rtplan.guidance import DEFAULT_ISODOSES
    from rtplan.report import HtmlReport, add_dose_section

    _page, study, _k = thigh_page
    ptv = study.structures["PTV"]
    grid = study.ct.grid.with_spacing(4.0)
    r_mm = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    dose = rtplan.Dose(array=55.0 * np.exp(-((r_mm / 45.0) ** 4)), grid=grid)
    shown = [study.structures[n] for n in ("GTV", "PTV", "Body", "NVBundle", "Quadriceps")]
    report = HtmlReport(title="thigh")
    add_dose_section(report, study.ct, dose, shown, focus=ptv)
    page = report.save(tmp_path / "report.html")
    iso = [ISODOSE_PALETTE[p] for p in DEFAULT_ISODOSES]
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page.read_text(encoding="utf-8"))
    axial = np.asarray(PILImage.open(io.BytesIO(base64.b64decode(pngs[1]))).convert("RGB"))
    colours = {tuple(c) for c in np.unique(axial.reshape(-1, 3), axis=0)}
    for s in shown:
        clash = float(np.min(delta_e(s.color, iso))) < MIN_DELTA_E
        # a clashing RT Structure Set colour is not drawn: its replacement is
        assert not (clash and s.color in colours), s.name
    for name in ("Body", "NVBundle"):  # green next to 95 %, magenta next to 107 %
        assert study.structures[name].color not in colours
    shot = tmp_path / "report.png"
    _chromium("--window-size=1200,2400", f"--screenshot={shot}", page.as_uri())
    rgb = np.asarray(PILImage.open(shot).convert("RGB"), dtype=np.int64)
    assert rgb.std() > 20


def test_page_shows_the_whole_plan_dose(tmp_path: Path) -> None:
    """A per-fraction dose is shown as the plan's total, and refused without its plan."""
    from rtplan.errors import EvaluationError

    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    grid = study.ct.grid.with_spacing(6.0)
    one = rtplan.Dose(array=np.full(grid.shape, 2.0), grid=grid, summation_type="FRACTION")
    plan = rtplan.Plan(beams=[rtplan.Beam()], prescription_gy=50.0, fractions=25)
    page = review_page(tmp_path / "r.html", study, dose=one, plan=plan)
    text = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="rtplan-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    assert data["dose"]["basis"].endswith("FRACTION dose multiplied by 25 fractions")
    assert 65535 * data["dose"]["scale_gy"] == pytest.approx(50.0)  # 25 x 2 Gy
    with pytest.raises(EvaluationError, match="FRACTION dose"):
        review_page(tmp_path / "s.html", study, dose=one)
    assert not (tmp_path / "s.html").exists()
