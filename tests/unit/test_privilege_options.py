"""Pure logic of the privilege and process options: capability sets, no-new-privileges, the shared-flag
router, ulimits, oom_score_adj, sizes, sysctl keys."""
import pytest

from nsrun import ConfigError, PluginError
from nsrun._options import route_items, run_options
from nsrun.syscalls import parse_sysctl
from nsrun_ns_mnt.sizes import parse_size
from nsrun_rlimits import INFINITY, check_oom_score_adj, check_ulimits, parse_ulimit
from nsrun_security import ALL, DEFAULT_CAPS, CAP_NUMBERS, capability_set, no_new_privs

NET_ADMIN, CHOWN = CAP_NUMBERS["NET_ADMIN"], CAP_NUMBERS["CHOWN"]


def test_capabilities_follow_dockers_rules():
    assert capability_set([], []) == DEFAULT_CAPS
    assert capability_set(["net_admin", "CAP_SYS_ADMIN"], ["chown"]) == \
        DEFAULT_CAPS - {CHOWN} | {NET_ADMIN, CAP_NUMBERS["SYS_ADMIN"]}
    assert capability_set(["NET_ADMIN"], ["NET_ADMIN"]) == DEFAULT_CAPS | {NET_ADMIN}  # adds win, as moby
    assert capability_set(["ALL"], ["chown"]) == ALL - {CHOWN}
    assert capability_set(["NET_ADMIN"], ["all"]) == {NET_ADMIN}
    assert capability_set([], ["ALL"]) == frozenset()
    assert capability_set([], ["ALL"], privileged=True) == ALL
    with pytest.raises(ConfigError, match="invalid --cap-add 'NOPE': unknown capability"):
        capability_set(["NOPE"], [])
    with pytest.raises(ConfigError, match="--cap-drop"):
        capability_set([], ["CAP_"])


def test_no_new_privileges_defaults_on_and_works_both_ways():
    assert no_new_privs([]) is True
    assert no_new_privs(["no-new-privileges=false"]) is False
    assert no_new_privs(["no-new-privileges:false", "no-new-privileges"]) is True
    assert no_new_privs(["no-new-privileges=FALSE"]) is False
    with pytest.raises(ConfigError, match="true or false"):
        no_new_privs(["no-new-privileges=maybe"])


def _rows():
    return [{"flags": ("--security-opt",), "dest": "security_opt", "keys": ("seccomp",), "plugin": "seccomp",
             "multiple": True, "is_flag": False, "metavar": "S", "help": "s"},
            {"flags": ("--security-opt",), "dest": "no_new_privileges", "keys": ("no-new-privileges",),
             "plugin": "sec", "multiple": True, "is_flag": False, "metavar": "N", "help": "n"},
            {"flags": ("--sysctl",), "dest": "net_sysctls", "keys": ("net.*",), "plugin": "net",
             "multiple": True, "is_flag": False, "metavar": "K", "help": ""}]


def test_a_shared_flag_is_one_parser_option_and_its_items_go_to_their_owners():
    rows = [r for r in run_options(_rows()) if r["flags"] == ("--security-opt",)]
    assert len(rows) == 1 and rows[0]["dest"] == "security_opt" and rows[0]["plugin"] == "seccomp, sec"
    out = route_items({"security_opt": ["seccomp=unconfined", "no-new-privileges:false"],
                       "sysctl": ["net.ipv4.ip_forward=1"], "other": 1}, _rows(), ["seccomp", "sec", "net"])
    assert out == {"security_opt": ["seccomp=unconfined"], "no_new_privileges": ["no-new-privileges:false"],
                   "net_sysctls": ["net.ipv4.ip_forward=1"], "other": 1}
    with pytest.raises(ConfigError, match=r"invalid --security-opt 'apparmor=x': 'apparmor' is not supported"):
        route_items({"security_opt": ["apparmor=x"]}, _rows(), ["seccomp", "sec"])
    with pytest.raises(PluginError, match="--security-opt no-new-privileges needs the 'sec' plugin"):
        route_items({"security_opt": ["no-new-privileges"]}, _rows(), ["seccomp"])
    with pytest.raises(ConfigError, match="'vm.swappiness' is not supported"):
        route_items({"sysctl": ["vm.swappiness=1"]}, _rows(), ["net"])


def test_ulimits_are_parsed_like_docker_and_kept_within_the_callers_hard_limits():
    assert parse_ulimit("nofile=1024") == ("nofile", 1024, 1024)
    assert parse_ulimit("core=0:-1") == ("core", 0, INFINITY)
    for bad, message in (("nofile", "NAME=SOFT"), ("bogus=1", "unknown limit"), ("nofile=2:1", "soft limit is above"),
                         ("nofile=x", "numbers")):
        with pytest.raises(ConfigError, match=message):
            parse_ulimit(bad)
    own = {7: (1024, 20000)}.get
    assert check_ulimits(["nofile=100:20000"], own, privileged=False) == ((7, 100, 20000),)
    with pytest.raises(ConfigError, match=r"nofile=999999:999999: the hard limit is above nsrun's own \(20000\)"):
        check_ulimits(["nofile=999999:999999"], own, privileged=False)
    assert check_ulimits(["nofile=999999"], own, privileged=True) == ((7, 999999, 999999),)


def test_oom_score_adj_range_and_lowering():
    assert check_oom_score_adj("500", own=0, privileged=False) == 500
    assert check_oom_score_adj("-1000", own=0, privileged=True) == -1000
    for bad, message in (("1001", "range is -1000 to 1000"), ("x", "integer"), ("-1", "CAP_SYS_RESOURCE")):
        with pytest.raises(ConfigError, match=message):
            check_oom_score_adj(bad, own=0, privileged=False)


def test_sizes_and_sysctl_keys():
    assert parse_size("64m", "--shm-size") == 64 << 20
    assert parse_size("1G", "--shm-size") == 1 << 30
    assert parse_size("4096", "--shm-size") == 4096
    assert parse_size("1kb", "--shm-size") == 1024
    for bad in ("1x", "-1", "0", ""):
        with pytest.raises(ConfigError):
            parse_size(bad, "--shm-size")
    _sizes_read_as_the_regex_did()
    assert parse_sysctl("net.ipv4.conf.eth0/100.forwarding=1") == ("net.ipv4.conf.eth0/100.forwarding", "1")
    for bad in ("net.ipv4.ip_forward", "kernel=1", "net..x=1", "net.x/../../y=1", "net./x=1"):
        with pytest.raises(ValueError):
            parse_sysctl(bad)


def _sizes_read_as_the_regex_did():
    """parse_size, the hostname and volume-name checks are regex-free (start-path imports); each agrees with
    the regular expression it replaced on every string of a generated set."""
    import itertools
    import re

    from nsrun_ns_ipc_uts_user.uts import valid_hostname
    from nsrun_ns_mnt.volumes import check_volume_name
    # ASCII digits only, as Docker's Go regexp reads \d (Python's old one took "٣" for 3)
    size = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE | re.ASCII)
    units = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    for parts in itertools.product(("", "1", "12", "1.5", "0.5", ".5", "1.", "x", "٣"), ("", " "),
                                   ("", "k", "M", "x"), ("", "i", "I"), ("", "b", "B", "bb")):
        text = "".join(parts)
        m = size.match(text)
        want = int(float(m.group(1)) * units[m.group(2).lower() if m.group(2) else None]) if m else None
        try:
            got = parse_size(text, "--shm-size")
        except ConfigError:
            got = None
        assert got == (want if want else None), text
    label = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
    name = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
    for text in ("a", "ab", "a-b", "-a", "a-", "a_b", "a.b", "a..b", ".a", "é", "a" * 63, "a" * 64, "1", "_x",
                 "x" * 250 + ".y", "a b", "A9-z"):
        assert valid_hostname(text) == (0 < len(text) <= 253 and all(label.match(p) for p in text.split("."))), text
        try:
            ok = check_volume_name(text) == text
        except ConfigError:
            ok = False
        assert ok == bool(name.match(text)), text
