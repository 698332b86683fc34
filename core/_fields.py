"""``Fields``: plain data classes without the import-time cost of ``dataclasses``.

Each ``@dataclass`` generates and ``exec``s code when its module is imported (about 1 ms per class here), and
every module on the path that starts a container is paid for on every start. A ``Fields`` subclass lists its
``__slots__`` and ``_defaults`` (a type such as ``dict`` means "a fresh one") and gets keyword/positional
construction, equality, ``repr``, ``to_dict`` and ``replace``.
"""
from __future__ import annotations

TYPE_CHECKING = False  # no typing import at run time (~2 ms): this module is on the exec client's path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Fields"]


class Fields:
    __slots__ = ()
    _defaults: dict[str, Any] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self.__slots__):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        for name, value in zip(self.__slots__, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}: {name} given twice")
            kwargs[name] = value
        for name in self.__slots__:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in self._defaults:
                value = self._defaults[name]
                if isinstance(value, type):
                    value = value()
            else:
                raise TypeError(f"{type(self).__name__}: missing {name}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected {', '.join(kwargs)}")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self, **changes: Any) -> Any:
        return type(self)(**{**self.to_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({inner})"
