"""A string that never shows itself: the private key's home inside configuration values.

Why a wrapper and not ``attrs.field(repr=False)`` alone: ``repr=False`` hides the key from ``repr`` only.
``attrs.asdict(config)``, ``str(config.private_key)``, an f-string in a log line, ``pickle.dumps(config)`` (a
pickled config in a cache or a multiprocessing queue is a key on disk) and a debugger's variable view all read
the field itself.  Holding the key in :class:`Secret` makes every one of those paths show ``***`` or refuse,
and leaves exactly one deliberate way out: :meth:`Secret.reveal`.

Copies return the same object (it is immutable), so ``copy``/``deepcopy``/``attrs.evolve`` of a config keep the
key without ever exposing it.  Equality is constant-time (``hmac.compare_digest``) so comparing configs leaks no
timing about the key.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

from trio_hl.errors import ConfigError

__all__ = ["Secret", "optional_secret"]

_MASK = "***"


class Secret:
    """A secret string: ``repr``/``str``/``format`` give ``***``, pickling is refused, ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            # Never echo the value: it may be the key in the wrong type (bytes, an int).
            raise TypeError(f"Secret holds a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret itself: the one deliberate way to read it (to build a signer from it)."""
        value: str = object.__getattribute__(self, "_value")
        return value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return format(_MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())

    def __hash__(self) -> int:
        # Configs are frozen attrs values and hashable; a hash of the secret says nothing a holder of the
        # object could not compute anyway (it never leaves the process: pickling is refused).
        return hash((Secret, self.reveal()))

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret (e.g. a private key) cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret (e.g. a private key) cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret (e.g. a private key) cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: Any) -> Secret:
        return self


def optional_secret(value: str | Secret | None) -> Secret | None:
    """attrs converter for an optional secret field: a ``str`` becomes a :class:`Secret`; None stays None."""
    if value is None or isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        # The value may be a key in the wrong type: name the type only, never the value.
        raise ConfigError(f"a secret (private key) must be a str, got {type(value).__name__}")
    return Secret(value)
