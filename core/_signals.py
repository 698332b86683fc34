"""The signals nsrun passes on to what it runs (Docker's sig-proxy): the one list every forwarder uses — a
foreground run to its container, ``exec`` to its command, the remote client to the daemon, the exec client
to its supervisor's helper. Imports only the C signal module (``signal.py`` builds enums: ~1.5 ms)."""
from __future__ import annotations

import _signal as signal

__all__ = ["FORWARDED"]

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
