"""``--pid host`` (the pid plugin): no PID namespace of the container's own — it sees the host's processes,
its fresh /proc is the host's pid view, ``--init``'s reaper still reaps orphans (a child subreaper, not PID 1);
an unknown ``container:NAME`` and bad values are one line, exit 125, nothing left (the leak check). Names pdv*."""
from __future__ import annotations

import os

NONE = ("--network", "none")


def _one_line(res, words):
    assert res.returncode == 125 and words in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_pid_host_sees_the_hosts_processes_in_a_fresh_proc(nsrun):
    host_ns = os.readlink("/proc/self/ns/pid")
    res = nsrun("run", "--rm", *NONE, "--pid", "host", "busybox", "sh", "-c",
                f"readlink /proc/self/ns/pid; cat /proc/1/comm; test -d /proc/{os.getpid()} && echo seen; "
                "ps -o pid | grep -c . ; grep ' /proc ' /proc/self/mounts | cut -d' ' -f3", check=True)
    ns, comm, seen, count, fstype = res.stdout.split()
    with open("/proc/1/comm") as f:
        assert (ns, comm, seen, fstype) == (host_ns, f.read().strip(), "seen", "proc")
    assert int(count) > 10                                    # ps lists the host's processes
    private = nsrun("run", "--rm", *NONE, "busybox", "sh", "-c", "readlink /proc/self/ns/pid; echo $$",
                    check=True).stdout.split()
    assert private[0] != host_ns and private[1] == "1"          # the default stays a namespace of its own


def test_pid_host_with_init_reaps_orphans_and_keeps_the_status(nsrun):
    script = ("(sleep 30 & echo $! > /tmp/orphan); sleep 0.3; o=$(cat /tmp/orphan); "
              "echo $$ $PPID $(cut -d' ' -f4 /proc/$o/stat); kill $o; exit 3")
    res = nsrun("run", "--rm", *NONE, "--pid", "host", "--init", "busybox", "sh", "-c", script)
    assert res.returncode == 3, res.stderr
    me, reaper, orphans_parent = res.stdout.split()
    assert me != "1" and reaper != "1" and orphans_parent == reaper   # the orphan came to the reaper


def test_bad_pid_modes_are_one_line(nsrun):
    for mode, words in (("container:pdvnosuch", "No such container: pdvnosuch"),
                        ("bogus", "--pid 'bogus': nsrun supports host")):
        _one_line(nsrun("run", "--rm", *NONE, "--pid", mode, "busybox", "true"), words)
