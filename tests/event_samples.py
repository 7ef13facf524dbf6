"""Event values for the events tests, built from attrs introspection so new event classes and fields are
covered without edits here (a new field type would make ``example_value`` raise, loudly)."""

from __future__ import annotations

import enum
import types
import typing
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from trio_hl.core.events import EVENT_KINDS, HEALTH_EVENT_KINDS


def example_value(tp: Any, name: str, tag: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return example_value(next(a for a in typing.get_args(tp) if a is not type(None)), name, tag)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return (example_value(item, name, tag), example_value(item, name, tag + "-2"))
    if tp is str:
        return f"{name}-{tag}"
    if tp is Decimal:
        return Decimal("12.3400")  # trailing zeros must survive the trip
    if tp is float:
        return 1_700_000_000.125
    if tp is bool:
        return True
    if tp is int:
        return 3
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and attrs.has(tp):
        return example_event(tp, tag)
    raise TypeError(f"no example for {tp!r} ({name})")


def example_event(cls: type, tag: str | None = None) -> Any:
    """One value of ``cls`` with every field filled (``client_order_id`` = ``cid-<tag>``)."""
    tag = tag or EVENT_KINDS.get(cls) or HEALTH_EVENT_KINDS.get(cls, cls.__name__)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for a in attrs.fields(cls):
        kwargs[a.name] = f"cid-{tag}" if a.name == "client_order_id" else example_value(hints[a.name], a.name, tag)
    return cls(**kwargs)


def all_kinds_examples() -> list[Any]:
    """One of each *order* event kind (the ``orders`` family)."""
    return [example_event(cls) for cls in EVENT_KINDS]


def every_event_examples() -> list[Any]:
    """One of each class ``conn.events()`` can yield: the order kinds and the health kinds."""
    return all_kinds_examples() + [example_event(cls) for cls in HEALTH_EVENT_KINDS]


_decimals = st.decimals(allow_nan=False, allow_infinity=False)
_floats = st.floats(allow_nan=False, allow_infinity=False)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(strategy_for(a) for a in typing.get_args(tp)))
    if origin is tuple:
        return st.lists(strategy_for(typing.get_args(tp)[0]), max_size=3).map(tuple)
    if tp is type(None):
        return st.none()
    if tp is Decimal:
        return _decimals
    if tp is float:
        return _floats
    if tp is str:
        return st.text(max_size=20)
    if tp is int:
        return st.integers(-(2**62), 2**62)
    if tp is bool:
        return st.booleans()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and attrs.has(tp):
        return events_of(tp)
    raise TypeError(f"no strategy for {tp!r}")


def events_of(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{a.name: strategy_for(hints[a.name]) for a in attrs.fields(cls)})


def any_event() -> st.SearchStrategy[Any]:
    """Any order event or health event (every class ``conn.events()`` can yield)."""
    return st.one_of(*(events_of(cls) for cls in [*EVENT_KINDS, *HEALTH_EVENT_KINDS]))
