"""The image_transports hook: a third-party transport is selected by its prefix beside the built-ins; plain
references mean the registry transport; ``PATH[:REF]`` splitting."""
import pluggy
import pytest

from nsrun import ConfigError, PluginError, hookimpl, hookspecs
from nsrun.image.transports import available, select, split_path


class Fake:
    name = "fake"

    def __init__(self):
        self.calls = []

    def pull(self, **kw):
        self.calls.append(kw)
        return [{"id": "sha256:" + "a" * 64, "loaded": ["fake:1"]}]


def _hook(*plugins):
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for n, p in enumerate(plugins):
        pm.register(p, name=f"p{n}")
    return pm.hook


class ThirdParty:
    def __init__(self):
        self.fake = Fake()

    @hookimpl
    def image_transports(self):
        return [self.fake]


def test_a_third_party_transport_is_selected_by_its_prefix_beside_the_builtins():
    import nsrun_transports
    third = ThirdParty()
    hook = _hook(nsrun_transports, third)
    assert {"docker", "docker-archive", "oci-archive", "fake"} <= set(available(hook))
    transport, location = select("fake:some/where:tag", hook)
    assert transport is third.fake and location == "some/where:tag"
    assert transport.pull(paths=None, images=None, location=location)[0]["loaded"] == ["fake:1"]
    assert select("docker-archive:/x.tar", hook)[0].name == "docker-archive"
    assert [(t.name, loc) for t, loc in (select("docker://redis:7", hook), select("redis:7", hook))] == \
        [("docker", "redis:7")] * 2
    assert select("127.0.0.1:5000/app:v1", hook)[1] == "127.0.0.1:5000/app:v1"
    assert select("localhost:5000/app", hook)[1] == "localhost:5000/app"


def test_the_installed_builtins_come_through_the_hook():
    assert {"docker", "docker-archive", "oci-archive"} <= set(available())


def test_without_a_registry_transport_a_plain_reference_is_one_line():
    with pytest.raises(ConfigError, match="no transport"):
        select("redis", _hook(ThirdParty()))


def test_a_transport_without_a_name_is_a_plugin_error():
    class Bad:
        @hookimpl
        def image_transports(self):
            return [object()]
    with pytest.raises(PluginError, match="name and pull"):
        available(_hook(Bad()))


def test_split_path_takes_the_longest_existing_file(tmp_path):
    f = tmp_path / "a:b.tar"
    f.write_bytes(b"")
    assert split_path(str(f)) == (str(f), None)
    assert split_path(f"{f}:host:5000/app:v1") == (str(f), "host:5000/app:v1")
    with pytest.raises(ConfigError, match="no such file"):
        split_path(str(tmp_path / "nope.tar:x"))
