"""``nsrun-oci``: the OCI runtime front end (runc's command line on an OCI bundle), for podman/conmon,
containerd's shim and dockerd.

``runtime`` holds the operations (create, start, state, kill, delete, run, list), ``cli`` runc's command line
over them, ``spec`` the default ``config.json`` of ``nsrun-oci spec``. The container goes through the same
pipeline as ``nsrun run`` (``Engine.prepare``: every plugin maps its own sections of config.json through the
``oci_config`` hook and checks its options), is parked before ``execve`` by ``_spawn`` (``Parking``), and is
left to the caller: no nsrun process stays per container.
"""
