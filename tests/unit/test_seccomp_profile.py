"""The seccomp plugin's profile handling: Docker's format checked field by field and evaluated per host
(pure), the ``--security-opt`` / ``HostConfig.SecurityOpt`` parsing, and libseccomp's compile of it (no
privileges: building a filter needs none, only loading one does)."""
from __future__ import annotations

import json
import os
import struct

import pytest

from nsrun import ConfigError
from nsrun.daemon.convert import create_args
from nsrun_seccomp import ALL_CAPS, DEFAULT_PROFILE, parse_security_opts
from nsrun_security import CAP_NAMES, DEFAULT_CAPS

DOCKER_CAPS = frozenset(f"CAP_{CAP_NAMES[c]}" for c in DEFAULT_CAPS)  # what sec leaves a command
from nsrun_seccomp.profile import ProfileError, check, evaluate, kernel_version, native_arch

X86_64 = "SCMP_ARCH_X86_64"
KERNEL = (6, 18, 0)


def default_profile() -> dict:
    with open(DEFAULT_PROFILE) as f:
        return check(json.load(f))


def rules_for(plan, name: str) -> list:
    return [r for r in plan.rules if r.name == name]


def test_the_default_profile_denies_by_default_with_eperm_for_x86_and_x32_too():
    plan = evaluate(default_profile(), X86_64, DOCKER_CAPS, KERNEL)
    assert (plan.default_action, plan.default_errno) == ("SCMP_ACT_ERRNO", 1)
    assert plan.arches == [X86_64, "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {r.name for r in plan.rules if r.action == "SCMP_ACT_ALLOW" and not r.args}
    assert {"read", "execve", "chdir", "setresuid", "wait4", "arch_prctl", "modify_ldt", "chroot",
            "ptrace"} <= allowed
    # the attacks: none of them is allowed for a container with Docker's capabilities
    for name in ("unshare", "setns", "mount", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
                 "bpf", "kexec_load", "open_by_handle_at", "init_module", "reboot", "swapon", "pivot_root",
                 "s390_runtime_instr", "cacheflush"):
        assert rules_for(plan, name) == [], name


def test_conditional_rules_of_the_default_profile():
    plan = evaluate(default_profile(), X86_64, DOCKER_CAPS, KERNEL)
    # clone only without any CLONE_NEW* flag (the mask, compared with 0); clone3 gets ENOSYS (libc falls back)
    assert [r.args for r in rules_for(plan, "clone")] == [((0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),)]
    assert [(r.action, r.errno) for r in rules_for(plan, "clone3")] == [("SCMP_ACT_ERRNO", 38)]
    # personality: Linux, Linux32, UNAME26 and the query; never ADDR_NO_RANDOMIZE (0x40000)
    assert sorted(r.args[0][2] for r in rules_for(plan, "personality")) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    # socket: every family but AF_ALG (38) and AF_VSOCK (40)
    assert sorted(r.args[0][1:3] for r in rules_for(plan, "socket")) == [
        ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]


def test_capabilities_open_the_gated_syscalls_and_close_the_clone_restriction():
    plan = evaluate(default_profile(), X86_64, ALL_CAPS, KERNEL)
    names = {r.name for r in plan.rules if r.action == "SCMP_ACT_ALLOW" and not r.args}
    assert {"mount", "unshare", "setns", "bpf", "perf_event_open", "clone", "clone3", "reboot",
            "init_module", "open_by_handle_at", "settimeofday"} <= names
    assert [r.args for r in rules_for(plan, "clone")] == [()]     # the masked rule is excluded with SYS_ADMIN
    assert {(r.action, r.errno) for r in rules_for(plan, "clone3")} == {("SCMP_ACT_ALLOW", None)}


def test_min_kernel_and_arch_conditions():
    old = evaluate(default_profile(), X86_64, DOCKER_CAPS, (4, 4))
    assert rules_for(old, "ptrace") == []                         # minKernel 4.8
    arm = evaluate(default_profile(), "SCMP_ARCH_AARCH64", DOCKER_CAPS, KERNEL)
    assert arm.arches == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert rules_for(arm, "cacheflush") and not rules_for(arm, "arch_prctl")
    s390 = evaluate(default_profile(), "SCMP_ARCH_S390X", DOCKER_CAPS, KERNEL)
    assert [r.args[0][0] for r in rules_for(s390, "clone")] == [1]  # s390 passes the flags second


def test_args_on_one_index_are_alternatives_on_different_indexes_all_apply():
    prof = check({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["tkill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]})
    plan = evaluate(prof, X86_64, DOCKER_CAPS, KERNEL)
    assert [len(r.args) for r in rules_for(plan, "kill")] == [2]
    assert [len(r.args) for r in rules_for(plan, "tkill")] == [1, 1]
    assert plan.arches == [X86_64]                               # no archMap: the native arch only


def test_a_rule_that_repeats_the_default_action_is_dropped_and_old_fields_work():
    prof = check({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
                  "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW", "comment": "old singular name"},
                               {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    plan = evaluate(prof, X86_64, DOCKER_CAPS, KERNEL)
    assert [r.name for r in plan.rules] == ["read"] and plan.arches == [X86_64, "SCMP_ARCH_X86"]


@pytest.mark.parametrize("doc, message", [
    ([], "the profile: expected a JSON object"),
    ({}, "defaultAction is missing"),
    ({"defaultAction": "SCMP_ACT_ALLOWW"}, "defaultAction: unknown action 'SCMP_ACT_ALLOWW'"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "SCMP_ACT_NOTIFY (a user-space listener) is not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultAcion": 1}, "the profile: unknown field 'defaultAcion'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/l.sock"}, "listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture 'SCMP_ARCH_Z80'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}, "unknown flag"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}, "syscalls[0]: action is missing"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_DENY"}]},
     "syscalls[0].action: unknown action 'SCMP_ACT_DENY'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}, "no syscall names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["rm -rf"], "action": "SCMP_ACT_LOG"}]},
     "'rm -rf' is not a syscall name"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_LOG"}]},
     "syscalls[0].names: expected a list of strings"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG",
                                                       "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "args[0].index: 6 is not an argument index 0-5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG",
                                                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IN"}]}]},
     "unknown operator 'SCMP_CMP_IN'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG",
                                                       "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "-1 is not an unsigned 64-bit integer"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                       "errnoRet": "EPERM"}]}, "errnoRet: expected an errno"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG",
                                                       "includes": {"capabilities": ["CAP_SYS_ADMIN"]}}]},
     "syscalls[0].includes: unknown field 'capabilities'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG",
                                                       "includes": {"minKernel": "four"}}]}, "not a kernel version"),
])
def test_every_malformed_field_is_refused_by_name(doc, message):
    with pytest.raises(ProfileError) as excinfo:
        check(doc)
    assert message in excinfo.value.message and "\n" not in excinfo.value.message


def test_host_facts():
    assert native_arch("x86_64") == X86_64 and native_arch("aarch64") == "SCMP_ARCH_AARCH64"
    assert kernel_version("6.18.0-1-amd64") == (6, 18, 0) and kernel_version("4.8") == (4, 8)
    assert kernel_version("5.15.0+") == (5, 15, 0)
    with pytest.raises(ProfileError):
        native_arch("z80")


def test_security_opt_values():
    assert parse_security_opts([]) is None
    assert parse_security_opts(["seccomp=builtin"]) is None
    assert parse_security_opts(["seccomp=unconfined"]) == "unconfined"
    assert parse_security_opts(["seccomp=/a.json", "seccomp=/b.json"]) == "/b.json"
    for bad, word in ((["apparmor=x"], "'apparmor'"), (["no-new-privileges"], "'no-new-privileges'"),
                      (["label=disable"], "'label'"), (["seccomp="], "needs a value")):
        with pytest.raises(ConfigError) as excinfo:
            parse_security_opts(bad)
        assert word in excinfo.value.message


def test_api_security_opt_maps_seccomp_and_leaves_the_rest_to_be_refused():
    from nsrun._plugins import default_selection, installed_manager
    hook = installed_manager().subset("docker_create", default_selection())

    def create(opts):
        return create_args({"Image": "busybox", "HostConfig": {"SecurityOpt": opts}}, None, hook)
    assert create(["seccomp=unconfined"])["options"] == {"security_opt": ["seccomp=unconfined"]}
    inline = 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'
    assert create([inline])["options"] == {"security_opt": [inline]}
    assert create_args({"Image": "busybox"}, None, hook)["options"] == {}
    for bad, message in ((["apparmor=x"], "field HostConfig.SecurityOpt: apparmor=x is not supported"),
                         (["seccomp=/etc/profile.json"], "not a path on the daemon's host")):
        with pytest.raises(ConfigError) as excinfo:
            create(bad)
        assert message in excinfo.value.message


def test_the_docker_view_shows_security_opt():
    from nsrun_seccomp import docker_view
    view = {"HostConfig": {}}
    docker_view(options={"security_opt": ["seccomp=unconfined"]}, view=view)
    assert view["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined"]
    view = {"HostConfig": {}}
    docker_view(options={}, view=view)
    assert view["HostConfig"]["SecurityOpt"] is None


# -- libseccomp (the compile step of a cache miss) -------------------------------------------------------
def _compile(doc: dict, caps=DOCKER_CAPS) -> bytes:
    from nsrun_seccomp.compile import compile_bpf
    plan = evaluate(check(doc), X86_64, caps, KERNEL)
    fd = os.memfd_create("test")
    try:
        compile_bpf(plan, fd)
        return os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)


def test_libseccomp_compiles_the_default_profile_to_a_bpf_program():
    with open(DEFAULT_PROFILE) as f:
        program = _compile(json.load(f))
    assert len(program) % 8 == 0 and 100 < len(program) // 8 < 4096
    code, _jt, _jf, k = struct.unpack_from("=HBBI", program, 0)
    assert (code, k) == (0x20, 4)             # it starts by loading seccomp_data.arch (offset 4)


def test_an_unknown_syscall_is_refused_and_a_newer_one_is_left_to_the_default():
    with pytest.raises(ProfileError) as excinfo:
        _compile({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ALLOW"}]})
    assert excinfo.value.detail == "unknown syscall 'mkdri'"
    allow_new = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "mseal"],
                                                                  "action": "SCMP_ACT_ALLOW"}]}
    only_read = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    assert _compile(allow_new) == _compile(only_read)
    with pytest.raises(ProfileError) as excinfo:   # a deny rule libseccomp cannot express must not vanish
        _compile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mseal"], "action": "SCMP_ACT_ERRNO"}]})
    assert "cannot filter syscall 'mseal'" in excinfo.value.detail


def test_the_cache_key_follows_every_input_and_a_torn_entry_is_a_miss(tmp_path):
    from nsrun_seccomp import cache_key, cached
    from nsrun_seccomp.cache import store
    lib = tmp_path / "libseccomp.so"
    lib.write_bytes(b"v1")
    d = str(tmp_path / "cache")
    assert cache_key(d, b"{}", "x86_64", DOCKER_CAPS, "6.18.0") is None      # nothing recorded yet
    key = lambda content=b"{}", caps=DOCKER_CAPS, release="6.18.0": cache_key(d, content, "x86_64", caps, release)
    store(d, str(lib), "2.5.4", key, 0, b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert cached(d, key()) == (0, b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    base = key()
    assert len({base, key(b"{ }"), key(caps=ALL_CAPS), key(release="6.19.0")}) == 4
    lib.write_bytes(b"v2, another size")                                  # libseccomp upgraded
    assert key() != base and cached(d, key()) is None
    with open(os.path.join(d, key() + ".bpf"), "wb") as f:
        f.write(b"0\n\x06\x00\x00")                                       # torn: not a whole instruction
    assert cached(d, key()) is None


def test_the_program_cache_keeps_the_newest_and_the_one_just_stored(tmp_path):
    from nsrun_seccomp import cache
    d = str(tmp_path)
    for i in range(6):
        path = tmp_path / f"k{i}.bpf"
        path.write_bytes(b"0\n")
        os.utime(path, ns=(i * 10**9, i * 10**9))  # k0 oldest ... k5 newest
    (tmp_path / "libseccomp").write_text("lib\n1")
    cache.store(d, "lib", "1", lambda: "k0", 0, b"prog")  # k0 is (re)written now: the newest
    left = sorted(os.listdir(d))
    assert len([n for n in left if n.endswith(".bpf")]) == 6  # under KEEP: nothing dropped
    removed = cache.prune(d, keep=3, spare="k0.bpf")
    assert sorted(removed) == ["k1.bpf", "k2.bpf", "k3.bpf"]
    assert sorted(n for n in os.listdir(d) if n.endswith(".bpf")) == ["k0.bpf", "k4.bpf", "k5.bpf"]
    assert "libseccomp" in os.listdir(d)
