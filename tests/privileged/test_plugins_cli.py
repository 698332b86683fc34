"""`nsrun plugins`, and a third-party plugin (examples/nsrun-example-plugin) found through its entry point."""


def test_plugins_lists_every_installed_plugin(nsrun):
    out = nsrun("plugins", check=True).stdout
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert {"pid", "mnt", "ipc", "uts", "user", "sec", "motd"} <= set(rows)
    assert "nsrun-example-plugin" in rows["motd"] and "nsrun_example" in rows["motd"]
    assert "in_child" in rows["mnt"] and "yes" in rows["pid"]


def test_third_party_plugin_runs_through_its_entry_point(nsrun):
    out = nsrun("--plugins", "pid,mnt,uts,motd", "run", "--rm", "--motd", "hi there", "busybox", "sh", "-c",
                "cat /etc/motd; echo $NSRUN_MOTD; touch /etc/motd 2>&1; true", check=True).stdout
    assert out.splitlines()[:2] == ["hi there", "hi there"] and "Read-only" in out


def test_a_plugin_option_without_its_plugin_says_which_plugin(nsrun):
    result = nsrun("run", "--rm", "--motd", "x", "busybox", "true")
    assert result.returncode == 125 and "needs the 'motd' plugin" in result.stderr
