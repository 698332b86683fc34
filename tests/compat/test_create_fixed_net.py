"""``docker run --network N --ip``, ``--mac-address`` and ``--link`` through ``nsrun daemon`` (the CLI's
``EndpointsConfig.{N}.IPAMConfig``/``MacAddress`` and ``HostConfig.Links``), and the refusals with the CLI's
exit 125 and one line. Names ncr*, subnet in 10.218.0.0/16."""
from __future__ import annotations

import json


def test_docker_run_with_ip_mac_and_link(daemon, docker_client):
    d = daemon
    d.docker("network", "create", "--subnet", "10.218.9.0/24", "ncr-dn", check=True)
    try:
        # docker CLI 28 sends --mac-address only to API 1.44+ (nsrun speaks 1.41): docker-py sends
        # Config.MacAddress, and EndpointsConfig.{N}.MacAddress through networking_config
        api = docker_client.api
        net = api.create_networking_config({"ncr-dn": api.create_endpoint_config(ipv4_address="10.218.9.51")})
        net["EndpointsConfig"]["ncr-dn"]["MacAddress"] = "02:18:09:00:00:52"
        for name, kwargs in (("ncr-m1", {"mac_address": "02:18:09:00:00:51"}),
                             ("ncr-m2", {"networking_config": net,
                                         "host_config": api.create_host_config(network_mode="ncr-dn")})):
            c = api.create_container("busybox", ["ip", "addr", "show", "eth0"], name=name, **kwargs)
            api.start(c)
            assert api.wait(c)["StatusCode"] == 0
            out = api.logs(c).decode()
            api.remove_container(c)
            assert (kwargs.get("mac_address") or "02:18:09:00:00:52") in out
        assert "10.218.9.51/24" in out
        d.docker("run", "-d", "--name", "ncr-d1", "--network", "ncr-dn", "--ip", "10.218.9.50",
                 "busybox", "sleep", "300", check=True)
        out = d.docker("exec", "ncr-d1", "ip", "addr", "show", "eth0", check=True).stdout
        assert "10.218.9.50/24" in out
        ep = json.loads(d.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "ncr-d1",
                                 check=True).stdout)["ncr-dn"]
        assert ep["IPAddress"] == "10.218.9.50" and ep["IPAMConfig"]["IPv4Address"] == "10.218.9.50"
        hosts = d.docker("run", "--rm", "--network", "ncr-dn", "--link", "ncr-d1:db", "busybox", "sh", "-c",
                         "ping -c1 -W2 db >/dev/null && cat /etc/hosts", check=True).stdout
        assert "10.218.9.50\tdb ncr-d1" in hosts
        taken = d.docker("run", "--rm", "--network", "ncr-dn", "--ip", "10.218.9.50", "busybox", "true")
        assert taken.returncode == 125 and "Address already in use" in taken.stderr
        d.docker("restart", "-t", "1", "ncr-d1", check=True)
        out = d.docker("exec", "ncr-d1", "ip", "-4", "addr", "show", "eth0", check=True).stdout
        assert "10.218.9.50/24" in out
        outside = d.docker("run", "--rm", "--network", "ncr-dn", "--ip", "10.218.10.5", "busybox", "true")
        assert outside.returncode == 125 and "no matching subnet" in outside.stderr
        bad = d.docker("run", "--rm", "--link", "ncr-nosuch:x", "busybox", "true")
        assert bad.returncode == 125 and "could not get container for ncr-nosuch" in bad.stderr
    finally:
        d.docker("rm", "-f", "ncr-d1", "ncr-m1", "ncr-m2")
        d.docker("network", "rm", "ncr-dn")
