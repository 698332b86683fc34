"""``FieldSource``: a front end's request (a Docker create body, an OCI ``config.json``) as fields that the core
and each plugin take the parts they own of, so that nothing is silently ignored.

A field is *set* when it holds something other than its zero value (``None``, ``False``, ``0``, ``""``, an empty
list or object, a list or object of zero values) or a default the front end names (the docker CLI sends
``MemorySwappiness: -1`` and ``NetworkMode: "default"`` when the user gave nothing). ``take(path)`` returns a
set field's value (None when it is not set) and marks it handled; ``take_items(path, key)`` takes the
elements of a list of ``key=value`` strings whose key matches (``SecurityOpt``: ``seccomp=...`` is one
plugin's, ``no-new-privileges`` another's). Once the core and every plugin have taken theirs, ``leftover()``
lists what is set and nobody took: the front end refuses those by name.
"""
from __future__ import annotations


from .errors import ConfigError

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FieldSource", "FieldError"]

_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array", float: "number"}


class FieldError(ConfigError):
    """A field has the wrong type or a value its owner cannot honour (HTTP 400 in the API)."""


def is_unset(value: Any) -> bool:
    """Zero values, recursively: what a client sends for an option the user did not give."""
    if value is None or value is False or value == 0 and not isinstance(value, bool) or value == "":
        return True
    if isinstance(value, (list, tuple)):
        return all(is_unset(v) for v in value)
    if isinstance(value, dict):
        return all(is_unset(v) for v in value.values())
    return False


class FieldSource:
    """One request's fields, by dotted path (``HostConfig.Init``). ``defaults`` maps a path to values that
    count as unset there (``{"HostConfig.MemorySwappiness": (-1,)}``)."""

    def __init__(self, data: dict[str, Any], what: str = "field",
                 defaults: dict[str, tuple[Any, ...]] | None = None, prefix: str = "",
                 keyed: tuple[str, ...] = ()) -> None:
        if not isinstance(data, dict):
            raise FieldError(f"{prefix.rstrip('.') or 'the request body'} must be a JSON object")
        self.data = data
        self.what = what
        self.prefix = prefix  # names this source's paths in messages (a nested object: ``Outer.``)
        self.keyed = keyed    # objects whose keys are the data (``ExposedPorts: {"80/tcp": {}}``): set when non-empty
        self.defaults = defaults or {}
        self._taken: set[str] = set()
        self._taken_items: dict[str, set[int]] = {}
        self._taken_keys: dict[str, set[str]] = {}

    # -- reading -------------------------------------------------------------------------------------------
    def _lookup(self, path: str) -> Any:
        node: Any = self.data
        parts = path.split(".")
        for i, part in enumerate(parts):
            if node is None:
                return None
            if not isinstance(node, dict):
                raise FieldError(f"json: cannot unmarshal {_TYPE_NAMES.get(type(node), type(node).__name__)} into "
                                 f"{self.what} {self.prefix}{'.'.join(parts[:i])} of type object")
            node = node.get(part)
        return node

    def _unset(self, path: str, value: Any) -> bool:
        if path in self.keyed:
            return not value
        return is_unset(value) or value in self.defaults.get(path, ())

    def take(self, path: str, *types: type) -> Any:
        """The value at ``path`` when it is set (else None), checked against ``types``; marks it handled."""
        self._taken.add(path)
        value = self._lookup(path)
        if self._unset(path, value):
            return None
        if types and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            names = "/".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise FieldError(f"json: cannot unmarshal {_TYPE_NAMES.get(type(value), type(value).__name__)} into "
                             f"{self.what} {self.prefix}{path} of type {names}")
        return value

    def take_strings(self, path: str) -> list[str] | None:
        """A list of strings (a lone string counts as a list of one), or None when unset."""
        value = self.take(path, list, str)
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        if not all(isinstance(v, str) for v in value):
            raise FieldError(f"json: cannot unmarshal non-string into {self.what} {self.prefix}{path} of type []string")
        return list(value)

    def take_items(self, path: str, key: str, by: str = "") -> list[Any]:
        """The elements of the list at ``path`` whose key is ``key``: for strings the part before ``=`` or
        ``:`` (``seccomp=...``), for objects their ``by`` member (``linux.namespaces`` by ``type``)."""
        if by:
            return self.take_where(path, lambda item: isinstance(item, dict) and item.get(by) == key)
        return self.take_where(path, lambda item: isinstance(item, str) and _item_key(item) == key)

    def take_where(self, path: str, predicate: Any) -> list[Any]:
        """The elements of the list at ``path`` for which ``predicate(element)`` holds; marks those handled."""
        value = self._lookup(path)
        if self._unset(path, value):
            self._taken.add(path)
            return []
        if not isinstance(value, list):
            raise FieldError(f"json: cannot unmarshal {_TYPE_NAMES.get(type(value), type(value).__name__)} into "
                             f"{self.what} {self.prefix}{path} of type array")
        mine = self._taken_items.setdefault(path, set())
        out = []
        for i, item in enumerate(value):
            if i not in mine and predicate(item):
                mine.add(i)
                out.append(item)
        return out

    def take_entries(self, path: str, predicate: Any) -> dict[str, Any]:
        """The entries of the object at ``path`` (a map whose keys are data and may hold dots:
        ``HostConfig.Sysctls``) whose key satisfies ``predicate(key)``; marks those handled."""
        value = self._lookup(path)
        if value is None or value == {}:
            self._taken.add(path)
            return {}
        if not isinstance(value, dict):
            raise FieldError(f"json: cannot unmarshal {_TYPE_NAMES.get(type(value), type(value).__name__)} into "
                             f"{self.what} {self.prefix}{path} of type object")
        mine = self._taken_keys.setdefault(path, set())
        out = {}
        for key, item in value.items():
            if key not in mine and predicate(key):
                mine.add(key)
                out[key] = item
        return out

    # -- what nobody took ----------------------------------------------------------------------------------
    def leftover(self) -> list[str]:
        """Every set field nobody took, as ``path`` (or ``path: item`` for untaken list elements)."""
        out: list[str] = []
        self._walk(self.data, "", out)
        return [self.prefix + item for item in out]

    def _walk(self, node: Any, prefix: str, out: list[str]) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in self._taken:
                continue
            if path in self._taken_keys:
                out.extend(f"{path}.{k}" for k in value if k not in self._taken_keys[path])
            elif path in self._taken_items:
                out.extend(f"{path}: {_show(item)}" for i, item in enumerate(value)
                           if i not in self._taken_items[path])
            elif isinstance(value, dict) and path in self.keyed:
                taken = {t[len(path) + 1:].partition(".")[0] for t in self._taken if t.startswith(path + ".")}
                if taken:  # an owner took some keys (one label): the others are reported by name
                    out.extend(f"{path}.{key}" for key in value if key not in taken)
                elif value:
                    out.append(path)
            elif isinstance(value, dict):
                self._walk(value, path + ".", out)   # its leaves are reported, each with its own default
            elif not self._unset(path, value):
                out.append(path)

    def refuse_leftover(self, hint: str = "") -> None:
        """Raise FieldError naming what nobody took (a front end never accepts and ignores a field)."""
        left = self.leftover()
        if len(left) == 1:
            raise FieldError(f"{self.what} {left[0]} is not supported by nsrun{hint}")
        if left:
            raise FieldError(f"{self.what}s not supported by nsrun{hint}: {', '.join(left[:8])}"
                             f"{' ...' if len(left) > 8 else ''}")


def _show(item: Any) -> str:
    import json
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True)


def _item_key(item: str) -> str:
    for sep in ("=", ":"):
        if sep in item:
            return item.split(sep, 1)[0]
    return item
