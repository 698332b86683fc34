"""``@hookimpl`` without importing pluggy: a plugin module is importable for the price of its own code.

pluggy finds an implementation by one attribute, ``<project>_impl``, holding the marker's options
(``pluggy.HookimplMarker.__call__`` sets it; ``PluginManager.parse_hookimpl_opts`` reads it). This marker sets
the very same attribute with the very same dict (``tests/unit/test_hookimpl.py`` compares the two), so a
plugin manager registers these functions exactly as if pluggy's marker had made them — while ``nsrun-oci
delete``, which calls one plugin's ``collect`` without a plugin manager (``_collect``), does not pay ~10 ms
of pluggy's and ``inspect``'s imports to import the plugin.
"""
from __future__ import annotations

__all__ = ["HookimplMarker", "hookimpl"]


class HookimplMarker:
    """pluggy's ``HookimplMarker``, same arguments, same effect."""

    __slots__ = ("project_name",)

    def __init__(self, project_name: str) -> None:
        self.project_name = project_name

    def __call__(self, function=None, hookwrapper: bool = False, optionalhook: bool = False,  # noqa: ANN001
                 tryfirst: bool = False, trylast: bool = False, specname: str | None = None,
                 wrapper: bool = False):  # noqa: ANN204 - a decorator, or the function it was given
        def mark(func):  # noqa: ANN001, ANN202
            setattr(func, self.project_name + "_impl",
                    {"wrapper": wrapper, "hookwrapper": hookwrapper, "optionalhook": optionalhook,
                     "tryfirst": tryfirst, "trylast": trylast, "specname": specname})
            return func
        return mark if function is None else mark(function)


hookimpl = HookimplMarker("nsrun")  # hookspecs.PROJECT
