"""Every route answers bad input with 400/404 and a JSON {"error": ...}, never 500 or a file's content."""

import pytest

from plugin_fixtures import App, assert_json_error, write_run

GOOD = {"run": "r", "probe": "p", "kind": "self", "step": "2"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    write_run(root / "r", range(4), layers=2, heads=2, n_tokens=4)
    static = root / "pkg" / "static"
    static.mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (root / "pkg" / "secret.js").write_text("const SECRET = 'root:x:0:0';\n")
    (root / "pkg" / "plugin.py").write_text("SECRET = 'root:x:0:0'\n")
    return App(root, static_dir=static)


def without(params, name):
    return {k: v for k, v in params.items() if k != name}


@pytest.mark.parametrize("route", ["snapshot", "stats"])
@pytest.mark.parametrize("missing", ["run", "probe", "kind"])
def test_missing_parameter_is_400(app, route, missing):
    message = assert_json_error(app.get(route, **without(GOOD, missing)), 400)
    assert repr(missing) in message


def test_missing_step_and_run_are_400(app):
    assert "'step'" in assert_json_error(app.get("snapshot", **without(GOOD, "step")), 400)
    assert "'run'" in assert_json_error(app.get("scalars"), 400)
    assert "'run'" in assert_json_error(app.get("scalars", run=""), 400)


@pytest.mark.parametrize("step", ["abc", "1.5", "1e3", " 1", "0x10", "--1", "99999999999999999999", "２"])
def test_non_integer_step_is_400(app, step):
    assert "integer" in assert_json_error(app.get("snapshot", **dict(GOOD, step=step)), 400)


@pytest.mark.parametrize("layer", ["-1", "x", "1.0", "-0x1"])
def test_bad_layer_is_400(app, layer):
    assert_json_error(app.get("snapshot", **dict(GOOD, layer=layer)), 400)


@pytest.mark.parametrize(
    "change",
    [
        {"run": "nope"},
        {"run": "../r"},
        {"probe": "q"},
        {"probe": "p/self"},
        {"kind": "cross"},
        {"kind": "../../etc"},
        {"step": "3000"},
        {"step": "-2"},
        {"layer": "2"},
        {"layer": "9223372036854775807"},
    ],
)
def test_unknown_things_are_404(app, change):
    assert_json_error(app.get("snapshot", **dict(GOOD, **change)), 404)
    if "step" not in change and "layer" not in change:
        assert_json_error(app.get("stats", **without(dict(GOOD, **change), "step")), 404)


def test_unknown_run_scalars_is_404(app):
    assert_json_error(app.get("scalars", run="nope"), 404)


# names that lead to run r's directory without being its name
NOT_QUITE_RUN_R = ["r\x00", "r/", "./r", "r/.", "r//", "r\\", " r", "R"]
EVERY_RUN_ROUTE = {
    "snapshot": GOOD,
    "stats": without(GOOD, "step"),
    "similarity": GOOD,
    "relations": {"run": "r"},
    "predictions": {"run": "r", "probe": "p"},
    "neurons": dict(GOOD, layer="0", head="0"),
    "contributions": without(GOOD, "step"),
    "scalars": {"run": "r"},
}


@pytest.mark.parametrize("route", sorted(EVERY_RUN_ROUTE))
@pytest.mark.parametrize("run", NOT_QUITE_RUN_R)
def test_a_run_is_named_exactly_or_not_found(app, route, run):
    message = assert_json_error(app.get(route, **dict(EVERY_RUN_ROUTE[route], run=run)), 404)
    assert f"unknown run {run!r}" in message


def test_extra_and_repeated_parameters_are_harmless(app):
    r = app.client.get("/data/plugin/attention/snapshot?run=r&probe=p&kind=self&step=2&step=abc&x=1")
    assert r.status_code == 200
    assert app.client.get("/data/plugin/attention/index?run=../../etc/passwd").status_code == 200


def test_overlong_parameter_is_400(app):
    assert_json_error(app.get("snapshot", **dict(GOOD, run="r" * 10000)), 400)


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "%2E%2E%2Fsecret.js",
        "../secret.js",
        "..%2fsecret.js",
        "..\\secret.js",
        "..%5csecret.js",
        "../plugin.py",
        "/etc/passwd",
        "//etc/passwd",
        "index.js%00.png",
        "index.js/..",
        "./index.js",
        ".index.js",
        "a/b/c/d/e.js",
        "%252e%252e%252fsecret.js",
        "static/../secret.js",
        "plugin.py",
        "__init__.py",
        "index.py",
    ],
)
def test_static_path_traversal_is_404(app, path):
    r = app.client.get("/data/plugin/attention/" + path)
    assert r.status_code == 404, (path, r.status_code)
    assert b"root:x" not in r.get_data()


def test_static_index_still_served(app):
    assert app.client.get("/data/plugin/attention/index.js").status_code == 200
