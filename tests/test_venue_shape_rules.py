"""The shape comparison itself (``tests/venue_shape.py``): what it lets through and what it catches, with the
message a reader gets."""

from __future__ import annotations

from venue_shape import ShapeIndex, compare_shape


def problems(recorded: object, actual: object, label: str = "info/x", **kw: object) -> list[str]:
    return [str(m) for m in compare_shape(recorded, actual, label=label, **kw)]  # type: ignore[arg-type]


def test_same_shape_different_values_passes() -> None:
    assert problems({"a": "1.0", "b": [1, 2], "c": None}, {"a": "2", "b": [7], "c": None}) == []


def test_a_missing_key_and_a_wrong_type_fail_with_their_paths() -> None:
    assert problems({"a": {"b": "1.0", "c": 5}}, {"a": {"c": "5"}}) == [
        '$.a.b: missing (recorded string "1.0")', '$.a.c: recorded integer 5, emulator string "5"']


def test_an_extra_key_needs_a_recording_or_documentation() -> None:
    assert problems({"a": 1}, {"a": 1, "zz": 2}) == [
        "$.zz: emulator adds 2, which no recording has and DOCUMENTED does not list"]
    index = ShapeIndex.of([({"a": 1}, False), ({"a": 2, "zz": 3}, False)])
    assert problems({"a": 1}, {"a": 1, "zz": 2}, index=index) == []
    assert problems({}, {"time": 1}, label="info/clearinghouseState") == []  # DOCUMENTED


def test_a_type_another_recording_shows_is_the_venues() -> None:
    assert problems({"px": None}, {"px": "1.5"}) == ['$.px: recorded null null, emulator string "1.5"']
    index = ShapeIndex.of([({"px": None}, False), ({"px": "2"}, False)])
    assert problems({"px": None}, {"px": "1.5"}, index=index) == []


def test_retired_and_conditional_keys_may_be_absent() -> None:
    fill = {"liquidationMarkPx": None, "builderFee": "0.1", "tid": 5}
    assert problems([fill], [{"tid": 6}], label="info/userFills") == []
    assert problems([fill], [{}], label="info/userFills") == ["$[0].tid: missing (recorded integer 5)"]


def test_stringified_numbers_read_back_as_numbers() -> None:
    assert problems({"oid": "123"}, {"oid": 123}) == ['$.oid: recorded string "123", emulator integer 123']
    assert problems({"oid": "123"}, {"oid": 123}, numbers_stringified=True) == []


def test_lists_need_elements_and_each_must_match_one_recorded_element() -> None:
    assert problems([{"a": 1}], []) == ["$: emulator answered an empty list, recorded 1 element(s): the scenario "
                                        "must make the emulator produce some to compare"]
    deltas = [{"type": "deposit", "usdc": "1"}, {"type": "accountClassTransfer", "usdc": "1", "toPerp": True}]
    assert problems(deltas, [{"type": "deposit", "usdc": "5"}]) == []
    assert problems(deltas, [{"type": "x", "usdc": 5}]) == ['$[0].usdc: recorded string "1", emulator integer 5']


def test_tuples_compare_by_position_and_maps_by_value() -> None:
    assert problems([["day", {"v": "1"}]], [["day", {"v": "2"}], ["week", {"v": 3}]]) == [
        '$[1][1].v: recorded string "1", emulator integer 3']
    assert problems({"BTC": "1"}, {"ETH": "2", "SOL": 3}, label="info/allMids") == [
        '$.SOL: recorded string "1", emulator integer 3']
