"""The suite itself: pytest imports every test module by its basename (there are no packages under tests/), so
two test files of the same name in different directories stop the whole run at collection."""
from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_test_modules_have_unique_basenames():
    names = collections.defaultdict(list)
    for dirpath, _, files in os.walk(TESTS):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                names[name].append(os.path.relpath(os.path.join(dirpath, name), TESTS))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
