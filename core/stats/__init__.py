"""Live figures of running containers: ``nsrun stats`` and ``nsrun top``, and the daemon's ``/stats`` and
``/top`` endpoints, all from one sampler.

- ``procfs``: the host's /proc, read once per sample for every container: the processes in each container's
  pid namespace, their CPU time, memory, block I/O; the network counters of its network namespace.
- ``cgroupfs``: the files of the container's own cgroup, when a plugin recorded one in
  ``info["Cgroup"]`` (``{"version": 1|2, "paths": {controller: dir}}``): they replace the /proc figures.
- ``sample``: both put together in Docker's stats JSON (what ``docker stats`` and docker-py read), then the
  ``container_stats`` hook of the container's own plugins (a plugin that measures better updates the keys).
- ``table``: Docker's stats JSON to the rows ``docker stats`` prints (CPU % from two samples).
- ``top``: ``ps`` on the host, filtered to the container's processes, as ``docker top`` shows it.

Nothing here is on the start path: the CLI and the daemon import it when a stats or top request comes.
"""
