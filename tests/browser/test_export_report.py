"""The exported report (`tb-attention export`, the installed script) opened from a file:// URL in
headless Chromium with the network cut off (the context offline, every non-file request aborted and
recorded): the grid paints (the `tb-attention:grid-painted` hook), the timeline, head view and evolution
show, steps change; and the PNG / SVG save buttons, clicked in the report and in the real tab inside a
real `tensorboard`, download a PNG and an SVG document of what the view shows."""

import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTIFACTS, ensure_bundle, tab_frame, wait_until
from grid_pixels import stats_js
from tb_attention_plugin.devtools.synthetic import PAIR_PROBE, XSS_TOKEN, write_run

SVG = "{http://www.w3.org/2000/svg}"
INKED_JS = stats_js(
    """  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n++;""",
    "[n, rw, rh]",
)
SAVES = ["grid-save", "hv-save", "evo-save"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ensure_bundle()
    d = tmp_path_factory.mktemp("report")
    write_run(d / "induction", layers=3, heads=4, tokens=24, steps=40, every=50, best_checkpoint=1000)
    exe = shutil.which("tb-attention")
    assert exe, "the tb-attention console script is not installed (pip install -e .)"
    out = d / "report.html"
    done = subprocess.run([exe, "export", d / "induction", "-o", out], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def offline(browser):
    """A page in an offline context whose every request but file:// ones is aborted (and listed)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True, accept_downloads=True)
    page = ctx.new_page()
    page.blocked, page.errors = [], []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            page.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: (page.errors.append("dialog: " + d.message), d.dismiss()))
    try:
        yield page
    finally:
        ctx.close()
    assert not page.errors, page.errors


def painted(page_or_frame, step=None, after=0):
    wait_until(
        page_or_frame,
        """([step, after]) => {
          const p = window.tbAttention && window.tbAttention.paints;
          return p && p.length > after && (step === null || p[p.length - 1].step === step);
        }""",
        [step, after],
    )


def views_shown(frame):
    """The head view holds data and the evolution its chart (they update after the grid's frame)."""
    frame.wait_for_selector('[data-testid="head-view"][data-state="data"]', timeout=30000)
    frame.wait_for_selector('[data-testid="evolution-chart"] canvas', timeout=30000)


def test_report_works_offline_from_a_file(offline, report):
    page = offline
    page.goto(report.as_uri())
    painted(page)
    views_shown(page)
    steps = page.evaluate("window.tbAttention.app.steps()")
    assert len(steps) == 30 and steps[0] == 0 and steps[-1] == 1950
    assert page.evaluate("window.tbAttention.state.step") == 1950, "opens at the last snapshot"
    cells = page.evaluate(INKED_JS, '[data-testid="grid-cells"]')
    assert len(cells) == 12 and all(n > 0.05 * w * h for n, w, h in cells), cells
    assert page.locator('[data-testid="timeline-chart"] canvas').count() >= 1
    assert "report of run induction" in page.locator('[data-testid="export-note"]').inner_text()
    before = page.evaluate("window.tbAttention.paints.length")
    page.keyboard.press("Home")
    painted(page, step=0, after=before)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export-report.png"), full_page=True)
    assert page.blocked == [], f"the report asked the network for {page.blocked}"


def test_report_shows_tokens_as_text(offline, report):
    page = offline
    page.goto(report.as_uri())
    painted(page)
    page.evaluate(f"window.tbAttention.app.set({{probe: {PAIR_PROBE!r}}})")
    wait_until(page, f"() => window.tbAttention.state.probe === {PAIR_PROBE!r}")
    views_shown(page)
    assert XSS_TOKEN in page.locator('[data-testid="hv-left"]').inner_text()
    assert page.locator('[data-testid="hv-left"] img').count() == 0


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 50 and len(data) > 2000, (width, height, len(data))
    return width, height


def check_svg(path):
    root = ET.parse(path).getroot()  # well-formed XML
    assert root.tag == SVG + "svg" and float(root.get("width")) > 100
    return root


def save_all(page, frame, name):
    """Click every save button of `frame` (in `page`); -> {test id: downloaded path}, saved in artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    saved = {}
    for view in SAVES:
        for ext in ("png", "svg"):
            with page.expect_download(timeout=30000) as download:
                frame.click(f'[data-testid="{view}-{ext}"]')
            path = ARTIFACTS / f"{name}-{view}.{ext}"
            download.value.save_as(str(path))
            assert download.value.suggested_filename.endswith("." + ext)
            saved[f"{view}-{ext}"] = path
    return saved


def check_saved(saved, tokens):
    for view in SAVES:
        check_png(saved[f"{view}-png"])
    grid = check_svg(saved["grid-save-svg"])
    images = grid.findall(f".//{SVG}image")
    assert images and images[0].get("href").startswith("data:image/png;base64,")
    texts = [t.text for t in grid.iter(SVG + "text")]
    assert "L0" in texts and "H0" in texts
    heads = check_svg(saved["hv-save-svg"])
    texts = [t.text for t in heads.iter(SVG + "text")]
    assert all(tok in texts for tok in tokens), "every token is a text element"
    assert heads.findall(f".//{SVG}path") and not heads.findall(f".//{SVG}image"), "lines are vector paths"
    evolution = check_svg(saved["evo-save-svg"])
    assert len(evolution.findall(f".//{SVG}path")) > 5 and not evolution.findall(f".//{SVG}image")
    assert "entropy (normalized)" in [t.text for t in evolution.iter(SVG + "text")]


def test_save_buttons_in_the_report(offline, report):
    page = offline
    page.goto(report.as_uri())
    painted(page)
    views_shown(page)
    saved = save_all(page, page, "export")
    tokens = page.locator('[data-testid="hv-left"] .tba-tok').all_inner_texts()
    check_saved(saved, tokens)
    assert page.blocked == []


def test_save_buttons_in_tensorboard(page, tensorboard):
    frame = tab_frame(page, tensorboard)
    painted(frame)
    frame.evaluate(f"window.tbAttention.app.set({{probe: {PAIR_PROBE!r}}})")
    wait_until(frame, f"() => window.tbAttention.state.probe === {PAIR_PROBE!r}")
    views_shown(frame)
    saved = save_all(page, frame, "tensorboard")
    tokens = frame.locator('[data-testid="hv-left"] .tba-tok').all_inner_texts()
    assert XSS_TOKEN in tokens
    check_saved(saved, tokens)
    # look at the vector files as a browser draws them
    for view in SAVES:
        page.goto(saved[f"{view}-svg"].as_uri())
        page.screenshot(path=str(ARTIFACTS / f"tensorboard-{view}-svg.png"))


@pytest.fixture(scope="module")
def cards_report(tmp_path_factory):
    """The report of a recorder's run with a relation probe, predictions and neuron records."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: card_logs, model_zoo
    from card_logs import write_cards_run

    ensure_bundle()
    d = tmp_path_factory.mktemp("cards_report")
    write_cards_run(d / "cards")
    out = d / "report.html"
    exe = shutil.which("tb-attention")
    done = subprocess.run([exe, "export", d / "cards", "-o", out], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return d / "cards", out


def test_the_other_cards_work_in_a_report(offline, cards_report):
    from tb_attention_plugin import read_run
    from tb_attention_plugin.analysis.neuron_math import softmax_of

    run_dir, report = cards_report
    page = offline
    page.goto(report.as_uri())
    painted(page)
    page.evaluate("window.tbAttention.setStep(10)")
    page.evaluate("window.tbAttention.selectHead(1, 3)")
    for card in ("relations", "predictions", "similarity"):
        page.wait_for_selector(f'[data-testid="{card}"][data-state="data"]', timeout=30000)
    rows = page.locator('[data-testid="relation-row"]')
    assert rows.count() > 0 and "coref" in page.locator('[data-testid="relation-picker"]').inner_text()
    page.wait_for_selector('[data-testid="neuron-view"][data-state="data"][data-step="10"]', timeout=30000)
    weights = page.evaluate(
        "[...document.querySelectorAll('[data-testid=\"nv-row\"]')].map(r => Number(r.dataset.weight))"
    )
    query = int(page.locator('[data-testid="neuron-view"]').get_attribute("data-query"))
    record = read_run(str(run_dir)).probe("sad").neurons(10)
    np.testing.assert_allclose(weights, softmax_of(record, record["heads"].index((1, 3)))[query], atol=1e-6)
    page.wait_for_selector('[data-testid="nv-contrib"][data-state="data"]', timeout=30000)
    page.screenshot(path=str(ARTIFACTS / "export-report-cards.png"), full_page=True)
    # the step-axis charts of the other cards save as PNG and vector SVG, titled, every curve a path
    for view, label in (("pred-save", "Predictions"), ("rel-save", "Relations"), ("layers-save", "per layer")):
        paths = {}
        for ext in ("png", "svg"):
            with page.expect_download(timeout=30000) as download:
                page.click(f'[data-testid="{view}-{ext}"]')
            paths[ext] = ARTIFACTS / f"export-{view}.{ext}"
            download.value.save_as(str(paths[ext]))
        check_png(paths["png"])
        svg = check_svg(paths["svg"])
        texts = [t.text or "" for t in svg.iter(SVG + "text")]
        assert any(label in t for t in texts), (view, texts[:3])
        assert len(svg.findall(f".//{SVG}polyline")) + len(svg.findall(f".//{SVG}path")) > 3
        assert not svg.findall(f".//{SVG}image"), "a chart is vector"
    assert page.blocked == []
