"""FieldSource: front-end fields taken by their owners; what nobody takes is named, never dropped."""
from __future__ import annotations

import pytest

from nsrun import FieldError, FieldSource


def test_zero_values_and_named_defaults_count_as_unset():
    f = FieldSource({"A": 0, "B": "", "C": None, "D": [], "E": {"x": 0, "y": [0, 0]}, "F": False, "G": -1},
                    defaults={"G": (-1,)})
    assert f.leftover() == []
    assert f.take("A", int) is None and f.take("G", int) is None


def test_take_marks_handled_and_leftover_names_the_rest():
    f = FieldSource({"Host": {"Init": True, "Privileged": True, "Binds": ["/a:/b"]}, "Name": "x"})
    assert f.take("Host.Init", bool) is True
    assert f.take_strings("Host.Binds") == ["/a:/b"]
    assert f.leftover() == ["Host.Privileged", "Name"]
    with pytest.raises(FieldError, match=r"Host\.Privileged, Name"):
        f.refuse_leftover()


def test_a_taken_object_covers_its_children():
    f = FieldSource({"Net": {"A": {"B": 1}}})
    f.take("Net", dict)
    assert f.leftover() == []


def test_types_are_checked_like_docker():
    f = FieldSource({"Tty": 1, "Cmd": [1]})
    with pytest.raises(FieldError, match="cannot unmarshal integer into field Tty of type boolean"):
        f.take("Tty", bool)
    with pytest.raises(FieldError, match="non-string"):
        f.take_strings("Cmd")


def test_list_items_are_taken_by_key():
    f = FieldSource({"SecurityOpt": ["seccomp=unconfined", "no-new-privileges", "apparmor:x"]})
    assert f.take_items("SecurityOpt", "seccomp") == ["seccomp=unconfined"]
    assert f.take_items("SecurityOpt", "no-new-privileges") == ["no-new-privileges"]
    assert f.leftover() == ["SecurityOpt: apparmor:x"]


def test_keyed_objects_are_set_when_they_have_a_key():
    f = FieldSource({"ExposedPorts": {"80/tcp": {}}, "Labels": {}}, keyed=("ExposedPorts", "Labels"))
    assert f.leftover() == ["ExposedPorts"]
    assert f.take("ExposedPorts", dict) == {"80/tcp": {}}


def test_one_key_of_a_keyed_object_can_be_taken():
    f = FieldSource({"Labels": {"motd": "hi", "other": "x"}}, keyed=("Labels",))
    assert f.take("Labels.motd", str) == "hi"
    assert f.leftover() == ["Labels.other"]


def test_prefix_names_nested_sources():
    f = FieldSource({"Aliases": ["a"]}, prefix="NetworkingConfig.EndpointsConfig.x.")
    assert f.leftover() == ["NetworkingConfig.EndpointsConfig.x.Aliases"]
    with pytest.raises(FieldError, match="must be a JSON object"):
        FieldSource([], prefix="Nsrun.")
