"""The tab over logs made by the real callback: the demo's own scripts (--quick), both runs.

Also the tool that takes the README's screenshots from a full demo run:
    python tests/browser/test_demo_tab.py logs docs/screenshot.png
    python tests/browser/test_demo_tab.py logs docs/relations.png --relations   # the MiniLM run's Relations card
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TensorBoard, ensure_bundle  # noqa: E402

ROOT = HERE.parents[1]


def wait_painted(page, timeout=60000):
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=timeout)


def capture(page, tb, out_png, run="induction", probe=None):
    """Open the tab on `run`, go to its last step, select its strongest induction head (if any), save.
    Returns the head types the plugin reports for the shown probe."""
    from urllib.parse import urlencode

    from tb_attention_plugin.server.http_payload import decode_container

    page.goto(tb.plugin_page)
    wait_painted(page)
    page.locator('[data-testid="run-picker"]').select_option(run)
    if probe:
        page.locator('[data-testid="probe-picker"]').select_option(probe)
    page.evaluate("window.tbAttention.setStep(window.tbAttention.app.steps().at(-1))")
    page.wait_for_function(
        """() => { const t = window.tbAttention, last = t.paints.at(-1);
        return last && last.step === t.app.steps().at(-1) && t.state.run === %r; }"""
        % run,
        timeout=60000,
    )
    state = page.evaluate("({probe: window.tbAttention.state.probe, kind: window.tbAttention.state.kind})")
    header, _ = decode_container(tb.get("stats?" + urlencode({"run": run, **state})))
    induction = sorted((h for h in header["head_types"] if h["type"] == "induction"), key=lambda h: -h["score"])
    if induction:
        h = induction[0]
        page.locator(f'[data-testid="cell"][data-layer="{h["layer"]}"][data-head="{h["head"]}"]').click()
    page.wait_for_timeout(800)
    page.screenshot(path=str(out_png), full_page=True)
    return header["head_types"]


def capture_relations(page, tb, out_png, run="minilm", relation="coreference"):
    """Open the tab on `run` at its last step, show `relation` in the Relations card, select its top head
    (by mass), save the card. Returns the ranked rows [(layer, head, [cells])]."""
    page.goto(tb.plugin_page)
    wait_painted(page)
    page.locator('[data-testid="run-picker"]').select_option(run)
    page.wait_for_function(
        "(run) => { const s = window.tbAttention.state; return s.run === run && s.relations && s.relations.run === run; }",
        arg=run,
        timeout=60000,
    )
    page.evaluate("window.tbAttention.setStep(1e9)")
    page.locator('[data-testid="relation-picker"]').select_option(relation)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=relations]').dataset.state === 'data' && "
        "document.querySelectorAll('[data-testid=relation-row]').length > 0",
        timeout=60000,
    )
    page.locator('[data-testid="relation-row"]').first.click()
    page.wait_for_timeout(800)
    rows = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=relation-row]')].map((r) =>
             [+r.dataset.layer, +r.dataset.head, [...r.cells].map((c) => c.textContent)])"""
    )
    card = page.locator('[data-testid="relations"]')
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(out_png))
    return rows


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory):
    logs = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    for script, run in (("induction_heads.py", "induction"), ("finetune_minilm.py", "minilm")):
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / script), "--quick", "--log-dir", str(logs / run)],
            check=True,
            env=env,
            capture_output=True,
            timeout=300,
        )
    return logs


def test_both_demo_runs_show_in_the_tab(demo_logs, browser):
    ensure_bundle()
    tb = TensorBoard(demo_logs)
    try:
        index = tb.wait_for_runs(2)
        assert sorted(r["run"] for r in index["runs"]) == ["induction", "minilm"]
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        ARTIFACTS.mkdir(exist_ok=True)
        capture(page, tb, ARTIFACTS / "demo-induction.png")
        # every head of the 2-layer GPT-2 is drawn, and the loss curve is there
        assert page.locator('[data-testid="cell"]').count() == 2 * 4
        assert "train/loss" in page.locator('[data-testid="timeline"] .u-legend').inner_text()
        capture(page, tb, ARTIFACTS / "demo-minilm.png", run="minilm")
        assert page.locator('[data-testid="cell"]').count() == 6 * 12  # the real all-MiniLM-L6-v2
        # its coreference probes (and relations="english"): the heads ranked, the top one selected
        rows = capture_relations(page, tb, ARTIFACTS / "demo-minilm-relations.png")
        assert len(rows) == 12 and rows[0][:2] == [
            page.evaluate("window.tbAttention.state.layer"),
            page.evaluate("window.tbAttention.state.head"),
        ]
        masses = [float(r[2][2]) for r in rows]
        assert masses == sorted(masses, reverse=True) and masses[0] > 0
        assert "classifier" in page.locator('[data-testid="relation-classifier"]').inner_text()
        page.close()
    finally:
        tb.close()


if __name__ == "__main__":
    from playwright.sync_api import sync_playwright

    logdir, out = sys.argv[1], sys.argv[2]
    ensure_bundle()
    tb = TensorBoard(Path(logdir).resolve())
    try:
        tb.wait_for_runs(1)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            if "--relations" in sys.argv[3:]:
                ranked = capture_relations(page, tb, out, run=tb.wait_for_runs(1)["runs"][0]["run"])
                print("coreference, strongest heads at the last step:", [(r[0], r[1], r[2][2]) for r in ranked[:5]])
            else:
                found = capture(page, tb, out, probe=sys.argv[3] if len(sys.argv) > 3 else None)
                print("head types at the last step:", [(h["layer"], h["head"], h["type"]) for h in found])
            b.close()
    finally:
        tb.close()
