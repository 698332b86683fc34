"""Polling for tests: wait until something the test cannot be told about directly has happened."""
from __future__ import annotations

import time

__all__ = ["wait_for"]


def wait_for(predicate, timeout: float = 10, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; that value, or the last one after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
