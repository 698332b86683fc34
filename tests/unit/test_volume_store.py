"""The mnt plugin's volumes, pure parts and the store on a temporary root: -v/--mount/--tmpfs forms, the
Docker API's HostConfig.Mounts, the local driver's options, create/list/remove/prune, in-use refusal."""
from __future__ import annotations

import os

import pytest

from nsrun import ConfigError, ConflictError, NotFoundError, Paths
from nsrun_ns_mnt.plan import docker_mounts, plan
from nsrun_ns_mnt.volstore import VolumeStore, validate_options, volumes_of
from nsrun_ns_mnt.volumes import Volume, mounts_from_docker, parse_mount, parse_tmpfs, parse_volume


def test_volume_forms_named_anonymous_bind(tmp_path):
    assert parse_volume("data:/srv:ro,nocopy") == Volume("data", "/srv", True, "volume", True)
    assert parse_volume("/srv/") == Volume(None, "/srv", False, "volume")
    assert parse_volume(f"{tmp_path}:/x") == Volume(str(tmp_path), "/x")


def test_mount_forms(tmp_path):
    assert parse_mount(f"type=bind,source={tmp_path},target=/x,readonly") == Volume(str(tmp_path), "/x", True)
    assert parse_mount("type=volume,src=data,dst=/d,volume-nocopy") == Volume("data", "/d", False, "volume", True)
    assert parse_mount("target=/anon") == Volume(None, "/anon", False, "volume")
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").data == "size=1048576,mode=1770"
    assert parse_tmpfs("/run:size=64k,noexec,mode=755") == Volume(None, "/run", False, "tmpfs", data="size=65536,mode=755",
                                                              flags=8)
    assert parse_volume(f"{tmp_path}:/x:ro,nosuid").nosuid and parse_volume("data:/x:noexec").noexec


@pytest.mark.parametrize("text, words", [("type=bind,target=/x", "needs a source"),
                                         ("type=nfs,target=/x", "type 'nfs'"), ("source=x", "target is required"),
                                         ("type=volume,target=/x,bind-propagation=shared", "bind-propagation"),
                                         ("type=volume,target=/x,volume-opt=a=b", "volume-opt"),
                                         ("type=tmpfs,source=x,target=/x", "no source"), ("colour=1,target=/x", "unknown field"),
                                         ("type=bind,source=rel,target=/x", "absolute")])
def test_mount_errors(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_mount(text)
    with pytest.raises(ConfigError, match="not supported"):
        parse_tmpfs("/x:huge=1")


def test_host_config_mounts_from_the_api():
    assert mounts_from_docker([{"Type": "volume", "Source": "db", "Target": "/var/lib/db", "ReadOnly": True,
                                "VolumeOptions": {"NoCopy": True}},
                               {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096, "Mode": 0o700}},
                               {"Type": "bind", "Source": "/srv", "Target": "/srv", "BindOptions": {"Propagation": ""}}]) \
        == ["type=volume,source=db,target=/var/lib/db,readonly,volume-nocopy",
            "type=tmpfs,target=/t,tmpfs-size=4096,tmpfs-mode=700", "type=bind,source=/srv,target=/srv"]
    with pytest.raises(ConfigError, match="DriverConfig"):
        mounts_from_docker([{"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}}])
    with pytest.raises(ConfigError, match=r"BindOptions\.Propagation"):
        mounts_from_docker([{"Type": "bind", "Source": "/srv", "Target": "/x", "BindOptions": {"Propagation": "shared"}}])


def test_local_driver_options(tmp_path):
    assert validate_options({"type": "tmpfs", "o": "size=1m"}) == {"type": "tmpfs", "o": "size=1m"}
    assert validate_options({"type": "none", "o": "bind", "device": str(tmp_path)})["device"] == str(tmp_path)
    for bad, words in (({"type": "nfs"}, "not supported"), ({"size": "1"}, "invalid option 'size'"),
                       ({"type": "none", "o": "bind", "device": "rel"}, "absolute"),
                       ({"type": "tmpfs", "o": "colour=1"}, "not supported")):
        with pytest.raises(ConfigError, match=words):
            validate_options(bad)


def test_store_create_list_remove_prune(tmp_path):
    store = VolumeStore(Paths.from_root(str(tmp_path)))
    meta = store.create("data", {"a": "b"})
    assert store.create("data") == meta                       # exists: returned as it is, as dockerd does
    anon = store.create()["Name"]
    assert len(anon) == 64 and sorted(m["Name"] for m in store.list()) == sorted(["data", anon])
    view = store.view(store.get("data"))
    assert view["Mountpoint"] == os.path.join(str(tmp_path), "volumes", "data", "_data") and view["Labels"] == {"a": "b"}
    with open(os.path.join(view["Mountpoint"], "f"), "w") as f:
        f.write("12345")
    removed, reclaimed = store.prune(["a=b"])
    assert removed == ["data"] and reclaimed == 5
    store.remove(anon)
    with pytest.raises(NotFoundError, match="no such volume"):
        store.remove(anon)
    for bad in ("x", "bad/name", "-x"):
        with pytest.raises(ConfigError, match="invalid volume name"):
            store.create(bad)
    with pytest.raises(ConfigError, match="driver"):
        store.create("y1", driver="nfs")
    assert store.list() == [] and store.leftovers() == []


def test_in_use_is_refused(tmp_path, monkeypatch):
    paths = Paths.from_root(str(tmp_path))
    store = VolumeStore(paths)
    store.create("used")
    import nsrun
    monkeypatch.setattr(nsrun, "list_containers", lambda p: [{"id": "c" * 64, "options": {"volumes": ["used:/x"]}}])
    with pytest.raises(ConflictError, match="in use"):
        store.remove("used")
    assert store.prune() == ([], 0)
    assert volumes_of({"volumes": ["used:/x", "/anon", "/h:/y"], "mounts": ["type=volume,source=mv,target=/m"]}) == \
        {"used", "mv"}


def test_plan_precedence_and_duplicates(tmp_path):
    paths = Paths.from_root(str(tmp_path))
    planned = plan(paths, "c" * 64, {"volumes": ["data:/data"], "tmpfs": ["/run"]}, {"/data": {}, "/cache": {}})
    assert [(p.vol.target, p.origin) for p in planned] == [("/data", "user"), ("/run", "user"), ("/cache", "image")]
    with pytest.raises(ConfigError, match="Duplicate mount point: /x"):
        plan(paths, "c" * 64, {"volumes": ["a1:/x"], "mounts": ["type=tmpfs,target=/x"]}, None)
    assert [m["Destination"] for m in docker_mounts({"volumes": ["data:/data"]}, {})] == ["/data"]
