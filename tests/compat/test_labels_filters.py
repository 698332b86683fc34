"""Labels and list filters through the real clients: ``--label`` and the image's labels kept and shown,
``docker ps --filter`` and docker-py's ``containers.list(filters=)`` answered as dockerd does, bad filters
refused; ``docker run -dit`` keeps a shell waiting on stdin without any client attached."""
from __future__ import annotations

import time

NONE = ("--network", "none")


def test_labels_and_ps_filters_with_the_docker_cli(daemon):
    d = daemon
    d.docker("run", "-d", "--name", "dmnh-a", *NONE, "-l", "app=web", "-l", "tier", "busybox", "sleep", "60",
             check=True)
    d.docker("run", "--name", "dmnh-b", *NONE, "--label", "app=db", "busybox", "sh", "-c", "exit 3")
    try:
        labels = d.docker("inspect", "-f", "{{json .Config.Labels}}", "dmnh-a", check=True).stdout.strip()
        assert labels == '{"app":"web","tier":""}'

        def names(*filters: str) -> list[str]:
            args = [a for f in filters for a in ("--filter", f)]
            return sorted(d.docker("ps", "-a", *args, "--format", "{{.Names}}", check=True).stdout.split())
        assert names("label=app=web") == ["dmnh-a"]
        assert names("label=app") == ["dmnh-a", "dmnh-b"]
        assert names("label=app", "label=tier") == ["dmnh-a"]          # every label filter must hold
        assert names("name=dmnh-b") == ["dmnh-b"] and names("name=^dmnh-") == ["dmnh-a", "dmnh-b"]
        assert names("status=exited") == ["dmnh-b"] and names("exited=3") == ["dmnh-b"]
        assert names("status=running", "status=exited") == ["dmnh-a", "dmnh-b"]
        assert names("ancestor=busybox:latest") == ["dmnh-a", "dmnh-b"] and names("ancestor=alpine") == []
        assert names("network=none") == ["dmnh-a", "dmnh-b"]
        cid = d.docker("inspect", "-f", "{{.Id}}", "dmnh-a", check=True).stdout.strip()
        assert names(f"id={cid[:6]}") == ["dmnh-a"]
        # without -a, a status filter still finds stopped containers (dockerd's rule)
        out = d.docker("ps", "--filter", "status=exited", "--format", "{{.Names}}", check=True).stdout.split()
        assert out == ["dmnh-b"]
        for bad, words in (("colour=x", "invalid filter 'colour'"), ("status=sleeping", "status=sleeping")):
            res = d.docker("ps", "--filter", bad)
            assert res.returncode == 1 and words in res.stderr, res.stderr
    finally:
        d.docker("rm", "-f", "dmnh-a", "dmnh-b", check=True)


def test_docker_py_labels_and_filters(daemon, docker_client):
    c = docker_client.containers.run("busybox", "sleep 60", name="dmnh-py", detach=True, network_mode="none",
                                     labels={"com.example.role": "worker"})
    try:
        assert c.labels == {"com.example.role": "worker"}
        found = docker_client.containers.list(filters={"label": "com.example.role=worker"})
        assert [x.name for x in found] == ["dmnh-py"]
        assert docker_client.containers.list(filters={"label": ["com.example.role=boss"]}) == []
        import docker.errors
        import pytest
        with pytest.raises(docker.errors.APIError) as err:
            docker_client.containers.list(filters={"nosuch": "x"})
        assert err.value.status_code == 400 and "invalid filter 'nosuch'" in str(err.value)
    finally:
        c.remove(force=True)


def test_run_dit_keeps_the_shell_up_without_a_client(daemon):
    d = daemon
    for flags, name in ((("-dit",), "dmnh-dit"), (("-di",), "dmnh-di")):
        d.docker("run", *flags, "--name", name, *NONE, "busybox", "sh", check=True)
    try:
        time.sleep(1.5)
        out = d.docker("ps", "--format", "{{.Names}} {{.State}}", check=True).stdout.split("\n")
        assert sorted(filter(None, out)) == ["dmnh-di running", "dmnh-dit running"]
        assert d.docker("exec", "dmnh-dit", "echo", "alive", check=True).stdout == "alive\n"
    finally:
        d.docker("rm", "-f", "dmnh-dit", "dmnh-di", check=True)


def test_nsrun_ps_filter_embedded(nsrun):
    nsrun("run", "-d", "--name", "dmnh-e1", *NONE, "-l", "k=v", "busybox", "sleep", "60", check=True)
    nsrun("run", "-d", "--name", "dmnh-e2", *NONE, "busybox", "sleep", "60", check=True)
    try:
        out = nsrun("ps", "-q", "--filter", "label=k=v", check=True).stdout.split()
        ident = nsrun("inspect", "dmnh-e1", check=True).stdout
        assert len(out) == 1 and out[0] in ident
        res = nsrun("ps", "--filter", "bogus=1")
        assert res.returncode == 125 and res.stderr.count("\n") == 1 and "invalid filter 'bogus'" in res.stderr
    finally:
        nsrun("rm", "-f", "dmnh-e1", "dmnh-e2", check=True)
