"""Recorded answers of the real Hyperliquid venue, vendored under ``tests/fixtures/venue/`` (provenance in
``PROVENANCE.md`` there), and the means to list them.

Each JSON file holds one sample: the venue's answer (``response``) and, where the recording kept it, the request
that produced it (``request``), with where it came from (``source``, ``path``, ``commit``), when it was recorded
(``recorded``, when known), and honest notes on what is not verbatim (``trimmed``: the sample keeps a prefix of a
long list; ``edited``: the publisher replaced identifying values; ``numbers_stringified``: the publisher's recorder
wrote JSON numbers as strings, so a digit string there stands for a venue number).

Kinds: ``info`` (``name`` is the ``/info`` request type), ``exchange`` (``name`` is the action type) and ``ws``
(``name`` is the frame's ``channel``).  A test picks samples with :func:`samples`; parse tests feed
``sample.response`` to the project's parsers, shape tests send ``sample.request`` (or an equivalent) to the
emulator and compare shapes.

Why a plain loader and not a pytest fixture: both the parse tests (h16parse) and the shape tests parametrize over
the same list at collection time, so the list must be importable without pytest machinery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = ["FIXTURES", "SOURCES", "Sample", "all_samples", "kinds", "samples"]

FIXTURES = Path(__file__).parent / "fixtures" / "venue"

Kind = Literal["info", "exchange", "ws"]
_KINDS: tuple[Kind, ...] = ("info", "exchange", "ws")

#: One entry per independent publisher of recordings: repository, license, and what its recordings are.
SOURCES: dict[str, dict[str, str]] = {
    "hl_python_sdk": {"repo": "hyperliquid-dex/hyperliquid-python-sdk", "license": "MIT",
                      "what": "vcrpy cassettes of mainnet /info answers (tests/cassettes/info_test)"},
    "jkorf": {"repo": "JKorf/HyperLiquid.Net", "license": "MIT",
              "what": "captured REST answers and WebSocket frames the C# client's unit tests replay"},
    "ccxt": {"repo": "ccxt/ccxt", "license": "MIT",
             "what": "static response tests: recorded raw venue answers (httpResponse) per ccxt method"},
    "go_hyperliquid": {"repo": "sonirico/go-hyperliquid", "license": "MIT",
                       "what": "go-vcr cassettes of mainnet answers (testdata)"},
}


@attrs.frozen
class Sample:
    """One recorded venue answer, with its request where known."""

    id: str
    source: str
    path: str
    commit: str
    recorded: str | None
    kind: Kind
    name: str
    request: Any
    response: Any
    trimmed: str | None = None
    edited: str | None = None
    numbers_stringified: bool = False
    #: the repository the file was read from (a source's fork when the file lives only there)
    repo: str = ""


def _load(path: Path) -> Sample:
    raw = json.loads(path.read_text(encoding="utf-8"))
    kind = raw["kind"]
    if kind not in _KINDS:
        raise ValueError(f"{path}: kind {kind!r} is not one of {_KINDS}")
    if raw["source"] not in SOURCES:
        raise ValueError(f"{path}: source {raw['source']!r} is not listed in SOURCES")
    return Sample(
        id=f"{path.parent.name}/{path.stem}", source=raw["source"], path=raw["path"], commit=raw["commit"],
        recorded=raw.get("recorded"), kind=kind, name=raw["name"], request=raw.get("request"),
        response=raw["response"], trimmed=raw.get("trimmed"), edited=raw.get("edited"),
        numbers_stringified=bool(raw.get("numbers_stringified", False)),
        repo=raw.get("repo", SOURCES[raw["source"]]["repo"]),
    )


@cache
def all_samples() -> tuple[Sample, ...]:
    """Every vendored sample, in a stable order (by source folder, then file name)."""
    return tuple(_load(p) for p in sorted(FIXTURES.glob("*/*.json")))


def samples(kind: Kind | None = None, name: str | None = None, *, source: str | None = None) -> list[Sample]:
    """The samples of one kind (and one info type / action / channel, and one source) when given."""
    return [s for s in all_samples()
            if (kind is None or s.kind == kind) and (name is None or s.name == name)
            and (source is None or s.source == source)]


def kinds() -> Iterator[tuple[Kind, str]]:
    """Every (kind, name) pair that has at least one sample, sorted."""
    yield from sorted({(s.kind, s.name) for s in all_samples()})
