"""The image config meets the user's values with dockerd's rules; ``--change`` instructions build a config."""
from __future__ import annotations

import pytest

from nsrun._context import ContainerSpec
from nsrun._imageconfig import BUSYBOX_CONFIG, apply, container_config, image_config, parse_changes
from nsrun.errors import ConfigError

IMAGE = {"Entrypoint": ["/entry", "-x"], "Cmd": ["serve", "--fast"], "Env": ["PATH=/opt/bin:/bin", "A=image",
         "B=image"], "WorkingDir": "/srv", "User": "nobody", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
         "StopSignal": "SIGQUIT", "Labels": {"maker": "image", "kept": "yes"}}


def test_missing_or_malformed_config_reads_as_empty():
    assert image_config({"name": "x"}) == {}
    assert image_config({"name": "x", "config": "nope"}) == {}
    assert image_config({"name": "x", "config": {"Cmd": "sh", "Env": ["A=1"], "Other": 1}}) == {"Env": ["A=1"]}
    assert image_config({"name": "busybox"}) == BUSYBOX_CONFIG  # a record older than configs
    assert image_config({"name": "busybox", "config": {}}) == {}


@pytest.mark.parametrize("cmd, entrypoint, argv, shown", [
    ([], None, ["/entry", "-x", "serve", "--fast"], (["/entry", "-x"], ["serve", "--fast"])),
    (["other"], None, ["/entry", "-x", "other"], (["/entry", "-x"], ["other"])),
    ([], ["/bin/sh"], ["/bin/sh"], (["/bin/sh"], None)),              # --entrypoint drops the image's CMD
    (["-c", "true"], ["/bin/sh"], ["/bin/sh", "-c", "true"], (["/bin/sh"], ["-c", "true"])),
    (["echo", "hi"], [""], ["echo", "hi"], (None, ["echo", "hi"])),   # --entrypoint "" clears it
])
def test_entrypoint_and_cmd_as_docker_merges_them(cmd, entrypoint, argv, shown):
    run = apply(IMAGE, cmd=cmd, entrypoint=entrypoint)
    assert run.argv == argv
    assert (run.config["Entrypoint"], run.config["Cmd"]) == shown


@pytest.mark.parametrize("image, entrypoint", [({}, None), (IMAGE, [""]), ({"Cmd": ["sh"]}, [""])])
def test_nothing_to_run_is_one_clear_error(image, entrypoint):
    with pytest.raises(ConfigError, match="No command specified") as excinfo:
        apply(image, cmd=[], entrypoint=entrypoint)
    assert excinfo.value.exit_code == 125


def test_env_workdir_user_labels_stop_signal_the_user_wins():
    run = apply(IMAGE, cmd=[], env={"B": "user", "C": "user"})
    assert run.env == {"PATH": "/opt/bin:/bin", "A": "image", "B": "user", "C": "user"}
    assert (run.workdir, run.user) == ("/srv", "nobody")
    assert run.config["Labels"] == {"maker": "image", "kept": "yes"}
    assert run.config["StopSignal"] == "SIGQUIT" and run.config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    mine = apply(IMAGE, cmd=[], workdir="/tmp", user="0:0", stop_signal="SIGINT", env={"PATH": "/x"})
    assert (mine.workdir, mine.user, mine.config["StopSignal"], mine.env["PATH"]) == ("/tmp", "0:0", "SIGINT", "/x")
    plain = apply({}, cmd=["true"])
    assert plain.env == {} and plain.workdir is None and plain.user is None and "StopSignal" not in plain.config
    assert apply({"Cmd": ["x"], "WorkingDir": "rel"}, cmd=[]).workdir == "/rel"


def test_container_config_shows_docker_fields_and_old_records():
    run = apply(IMAGE, cmd=[])
    spec = ContainerSpec("c", "", run.argv, config=run.config)
    shown = container_config(spec)
    assert shown["Entrypoint"] == ["/entry", "-x"] and shown["Cmd"] == ["serve", "--fast"]
    assert shown["StopSignal"] == "SIGQUIT" and shown["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert container_config(ContainerSpec("c", "", ["sh", "-c", "x"])) == {"Entrypoint": None,
                                                                         "Cmd": ["sh", "-c", "x"], "Labels": {}}
    assert ContainerSpec.from_json({"id": "c", "name": "", "argv": ["sh"]}).config == {}


def test_changes_build_a_config_as_docker_import_does():
    config = parse_changes([
        'CMD ["redis-server", "--protected-mode", "no"]', "ENV A=1 B=\"two words\"", "ENV C plain value",
        "WORKDIR /data", "WORKDIR sub", "USER 999:999", "EXPOSE 6379 53/udp", "LABEL org.x=1 y=\"a b\"",
        "STOPSIGNAL SIGINT", "env A=3"])
    assert config == {"Cmd": ["redis-server", "--protected-mode", "no"], "Env": ["B=two words", "C=plain value",
                      "A=3"], "WorkingDir": "/data/sub", "User": "999:999",
                      "ExposedPorts": {"6379/tcp": {}, "53/udp": {}}, "Labels": {"org.x": "1", "y": "a b"},
                      "StopSignal": "SIGINT"}
    assert parse_changes(["CMD echo $HOME"])["Cmd"] == ["/bin/sh", "-c", "echo $HOME"]
    assert parse_changes(["ENTRYPOINT [\"/e\"]"], {"Cmd": ["old"]}) == {"Entrypoint": ["/e"]}


@pytest.mark.parametrize("change, words", [
    ("RUN true", "RUN is not supported"), ("ONBUILD RUN x", "not supported"), ("CMD", "needs an argument"),
    ('CMD ["a", 1]', "JSON array of strings"), ("EXPOSE http", "not PORT"), ("EXPOSE 80/icmp", "not PORT"),
    ("LABEL novalue=1 bare", "not KEY=VALUE"), ("STOPSIGNAL SIGNOPE", "invalid signal"), ("", "not supported"),
])
def test_bad_changes_are_config_errors(change, words):
    with pytest.raises(ConfigError, match=words):
        parse_changes([change])


def test_labels_the_users_over_the_images():
    run = apply({"Cmd": ["sh"], "Labels": {"maker": "image", "kept": "yes"}}, cmd=[], labels={"maker": "me", "x": ""})
    assert run.config["Labels"] == {"maker": "me", "kept": "yes", "x": ""}


def test_volume_change_and_the_record_keeps_the_images_volumes():
    config = parse_changes(["VOLUME /data /cache", 'VOLUME ["/logs"]'])
    assert config["Volumes"] == {"/data": {}, "/cache": {}, "/logs": {}}
    assert apply(config | {"Cmd": ["sh"]}, cmd=[]).config["Volumes"] == config["Volumes"]
    with pytest.raises(ConfigError, match="absolute"):
        parse_changes(["VOLUME data"])
