"""The vendored venue recordings are loadable, provenanced and enough (issue 16: >= 60 samples, >= 2 sources)."""

from __future__ import annotations

from collections import Counter

from venue_fixtures import FIXTURES, SOURCES, all_samples, kinds, samples


def test_every_file_loads_with_provenance() -> None:
    files = sorted(FIXTURES.glob("*/*.json"))
    loaded = all_samples()
    assert len(loaded) == len(files)
    for s in loaded:
        assert s.source in SOURCES and SOURCES[s.source]["license"] in {"MIT", "Apache-2.0", "BSD-3-Clause"}
        assert len(s.commit) == 40 and int(s.commit, 16) >= 0, s.id
        assert s.path and s.repo, s.id
        assert s.id.split("/")[0] == s.source, f"{s.id}: file lives outside its source's folder"


def test_count_and_independent_sources() -> None:
    assert len(all_samples()) >= 60
    per_source = Counter(s.source for s in all_samples())
    assert len(per_source) >= 2 and min(per_source.values()) >= 2


def test_provenance_lists_every_file() -> None:
    text = (FIXTURES / "PROVENANCE.md").read_text(encoding="utf-8")
    for s in all_samples():
        assert f"`{s.id}.json`" in text, f"{s.id} is missing from PROVENANCE.md"


def test_selection_by_kind_and_name() -> None:
    fills = samples("info", "userFillsByTime")
    assert fills and all(s.kind == "info" and s.name == "userFillsByTime" for s in fills)
    assert len(fills[0].response) == 57  # the 2023 page the dedup bug report measured, kept in part
    assert ("ws", "l2Book") in set(kinds()) and ("exchange", "order") in set(kinds())
    assert samples("info", "no such type") == []


def test_ws_samples_are_frames_of_their_channel() -> None:
    for s in samples("ws"):
        assert isinstance(s.response, dict) and s.response["channel"] == s.name, s.id
