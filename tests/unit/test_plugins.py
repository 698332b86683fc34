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


def test_pluggy_calls_the_real_plugins_in_pipeline_order(monkeypatch):
    monkeypatch.setenv("NSRUN_NO_PLUGIN_CACHE", "1")  # through pluggy, whatever plan is kept
    loaded = load_plugins(["sec", "mnt", "pid", "uts", "ipc"])
    assert loaded.pm is not None
    called = [impl.plugin_name for impl in reversed(loaded.pm.hook.pre_clone.get_hookimpls())]  # pluggy's order
    assert called == [n for n in loaded.names if "pre_clone" in discover()[n].hooks]
    in_child = [impl.plugin_name for impl in reversed(loaded.pm.hook.in_child.get_hookimpls())]
    assert in_child[-1] == "mnt"  # trylast: pivot_root after every other in_child


def test_the_selected_firewall_backend_answers_through_the_hook():
    from nsrun import Paths
    from nsrun_ns_net.firewall import selected_firewall
    paths = Paths.from_root("/tmp/nsrun-unit")
    for backend in ("nft", "iptables"):
        loaded = load_plugins(["net", backend, "mnt"])
        assert selected_firewall(loaded.hook, paths).name == backend
    assert selected_firewall(load_plugins(["net", "mnt"]).hook, paths) is None


def test_gc_and_network_rm_reach_every_installed_backend_selected_or_not():
    from nsrun import Paths, installed_hooks
    from nsrun._plugins import installed_manager
    from nsrun_ns_net.firewall import installed_firewalls
    names = {fw.name for fw in installed_firewalls(Paths.from_root("/tmp/nsrun-unit"))}
    assert {"nft", "iptables", "nftx"} <= names  # nftx: examples/nsrun-example-firewall, a third party's
    installed = installed_manager()
    assert installed.broken == {}
    assert {"nft", "iptables"} <= set(installed.names)  # both, though they conflict (PROVIDES port-publish)
    assert "net" in [impl.plugin_name for impl in installed_hooks().gc.get_hookimpls()]
