"""tb_attention_plugin.show(...) in a notebook: executed by a real Jupyter kernel (nbclient), saved, and
the saved output opened in Chromium with every network request blocked. The tab paints inside the
output's iframe at the probe and step asked for, and a step change works."""

import json

import pytest

from tb_attention_plugin.devtools import synthetic
from conftest import ARTIFACTS, CHROMIUM_ARGS, ensure_bundle, wait_until  # noqa: F401

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

PAINTED = "() => window.tbAttention && window.tbAttention.paints.length > 0"


@pytest.fixture(scope="module")
def saved_notebook(tmp_path_factory):
    ensure_bundle()
    d = tmp_path_factory.mktemp("notebook")
    steps = synthetic.write_run(d / "run", layers=2, heads=3, tokens=16, steps=6)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import tb_attention_plugin\n"
            f"tb_attention_plugin.show({str(d / 'run')!r}, probe={synthetic.PAIR_PROBE!r}, step={steps[2]})"
        )
    ]
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    path = d / "attention.ipynb"
    nbformat.write(notebook, str(path))
    return nbformat.read(str(path), as_version=4), steps


def test_the_saved_notebook_shows_the_tab_offline_and_steps_through(saved_notebook, browser):
    notebook, steps = saved_notebook
    (output,) = notebook.cells[0].outputs
    assert output["output_type"] == "execute_result"
    cell_html = output["data"]["text/html"]
    assert cell_html.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts' in cell_html
    # the saved output, as a notebook front end shows it, in a page that may reach nothing
    page_html = f"<!doctype html><html><body><h1>notebook output</h1>{cell_html}</body></html>"
    context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    context.route("**/*", lambda route: route.abort())  # nothing is fetched: the data is in the page
    page.set_content(page_html)
    frame = page.wait_for_selector("iframe").content_frame()
    wait_until(frame, PAINTED, timeout=60)
    state = json.loads(
        frame.evaluate("() => JSON.stringify({probe: tbAttention.state.probe, step: tbAttention.state.step})")
    )
    assert state == {"probe": synthetic.PAIR_PROBE, "step": steps[2]}  # the probe and step asked for
    painted = frame.evaluate("() => tbAttention.paints.length")
    frame.locator("[data-testid=export-note]").click()  # the user clicks into the output
    page.keyboard.press("ArrowRight")  # the tab's own key for the next step
    wait_until(frame, "([n, s]) => tbAttention.paints.length > n && tbAttention.state.step === s", [painted, steps[3]])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "notebook-view.png"), full_page=True)
    assert not errors, errors
    assert not [u for u in requests if u.startswith(("http:", "https:"))], requests
    context.close()


def test_show_refuses_what_the_run_does_not_hold(tmp_path):
    import tb_attention_plugin

    synthetic.write_run(tmp_path / "run", layers=1, heads=2, tokens=8, steps=2)
    with pytest.raises(ValueError, match="no probe 'nope'"):
        tb_attention_plugin.show(tmp_path / "run", probe="nope")
    with pytest.raises(ValueError, match=r"step\(s\) \[7\] not logged"):
        tb_attention_plugin.show(tmp_path / "run", step=7)
