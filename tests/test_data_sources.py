"""The plugin's two sources of data (server/data.py) implement one interface: the same public methods
with the same signatures over a `Series` (run, probe, kind), so a route calls either the same way; the
provider's answer for data only the event files hold is a 400 that says what to do."""

import inspect

import pytest

from tensorboard import context
from tb_attention_plugin.server.answers import Series
from tb_attention_plugin.server.files import FileData
from tb_attention_plugin.server.provider.data import ProviderData, ProviderSource

from plugin_fixtures import App, assert_json_error, write_run

SERIES = {"run": "r", "probe": "p", "kind": "self"}
FILES_ONLY = {
    "relations": {"run": "r"},
    "predictions": SERIES,
    "neurons": dict(SERIES, step=2, layer=0, head=0),
    "contributions": SERIES,
}


def public_methods(cls):
    return {name: inspect.signature(f) for name, f in vars(cls).items() if inspect.isfunction(f) and name[0] != "_"}


def test_both_sources_have_the_same_methods_with_the_same_signatures():
    files, provider = public_methods(FileData), public_methods(ProviderSource)
    assert set(files) == {"index", "snapshot", "stats", "relations", "predictions", "neurons", "contributions"}
    assert set(provider) == set(files)
    for name, signature in files.items():
        assert provider[name] == signature, (name, provider[name], signature)


def test_a_series_is_a_small_immutable_value():
    series = Series("r", "p", "self")
    assert series == ("r", "p", "self") and series.run == "r" and series.probe == "p" and series.kind == "self"
    with pytest.raises(AttributeError):
        series.run = "other"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    write_run(root / "r", range(4), layers=2, heads=2, n_tokens=4)
    return root


@pytest.fixture(scope="module")
def apps(logs):
    return App(logs), App(logs, read_files=False)


def test_each_request_gets_its_source_bound_to_its_context(apps):
    files, provider = (app.plugin._data for app in apps)
    ctx = context.RequestContext()
    assert files.reads_files and files.source_for(ctx, "", "r") is files.source
    assert not provider.reads_files and isinstance(provider.source, ProviderData)
    bound = provider.source_for(ctx, "", "r")
    assert isinstance(bound, ProviderSource) and bound.stats(Series(**SERIES))[0]["steps"] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "route, extra",
    [
        ("snapshot", {}),
        ("snapshot", {"pool": 3}),
        ("snapshot", {"pool": 2, "layer": 1}),
        ("stats", {}),
        ("similarity", {}),
    ],
)
def test_both_sources_answer_the_same_bytes(apps, route, extra):
    params = dict(SERIES, step=2, **extra) if route != "stats" else SERIES
    files, provider = (app.get(route, **params) for app in apps)
    assert files.status_code == provider.status_code == 200
    assert files.get_data() == provider.get_data()


def test_both_sources_list_the_same_index(apps):
    files, provider = (app.get("index") for app in apps)
    assert files.status_code == provider.status_code == 200
    assert files.get_data() == provider.get_data()


@pytest.mark.parametrize("route", sorted(FILES_ONLY))
def test_the_provider_says_how_to_see_what_only_the_files_hold(apps, route):
    message = assert_json_error(apps[1].get(route, **FILES_ONLY[route]), 400)
    assert message.endswith("start TensorBoard with a local --logdir"), message
    assert "read from the runs' event files" in message


@pytest.mark.parametrize("route", sorted(FILES_ONLY))
def test_an_unknown_run_is_not_found_from_either_source(apps, route):
    for app in apps:
        message = assert_json_error(app.get(route, **dict(FILES_ONLY[route], run="nope")), 404)
        assert "unknown run 'nope'" in message
