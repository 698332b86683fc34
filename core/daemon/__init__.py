"""``nsrun daemon``: a server for the Docker Engine API subset (docs/daemon.md) that the docker CLI, docker-py
and ``nsrun -H`` use. Importing this package imports nothing heavy; ``server.serve`` pulls in aiohttp.

Modules: ``hosts`` (-H parsing, loopback/TLS rules), ``convert`` (Docker JSON <-> nsrun data, pure),
``app`` (routes, errors, logging), ``containers``/``execs``/``images`` (endpoints), ``streams`` (hijack, log
following), ``launcher`` (starting supervisors, waiting), ``server`` (the process), ``client`` (``nsrun -H``).
"""
