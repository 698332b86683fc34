"""Plugin discovery and selection: entry points, requires/provides/conflicts, clear errors."""
import pytest

from nsrun import PluginError
from nsrun._discovery import discover
from nsrun._plugins import _check_selection, default_selection, load_plugins


def test_builtins_and_the_example_are_entry_points():
    records = discover(use_cache=False)
    assert {"pid", "mnt", "ipc", "uts", "user", "sec", "motd"} <= set(records)
    assert records["motd"].dist == "nsrun-example-plugin"
    assert "in_child" in records["mnt"].hooks


def test_default_selection_is_dockers():
    assert {"pid", "mnt", "ipc", "uts", "sec"} <= set(default_selection())
    assert "user" not in default_selection() and "motd" not in default_selection()


def test_unknown_plugin_lists_the_installed_ones():
    with pytest.raises(PluginError) as excinfo:
        load_plugins(["pid", "nope"])
    assert "'nope'" in str(excinfo.value) and "mnt" in str(excinfo.value)


def test_requires_is_checked():
    with pytest.raises(PluginError, match="requires 'mnt'"):
        load_plugins(["motd"])


def test_two_providers_of_one_capability_conflict():
    records = dict(discover())
    records["a"] = records["pid"].replace(name="a", provides="port-publish")
    records["b"] = records["pid"].replace(name="b", provides="port-publish")
    with pytest.raises(PluginError, match="both provide"):
        _check_selection(["a", "b"], records)


def test_loaded_order_follows_ORDER():
    loaded = load_plugins(["sec", "mnt", "pid", "uts"])
    assert loaded.names == ["uts", "pid", "mnt", "sec"]
