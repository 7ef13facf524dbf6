"""DecimalInterner: one shared object per value *as written*; a number's representation never changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trio_hl.core.intern import DecimalInterner

D = Decimal


def test_equal_representations_share_the_first_object() -> None:
    canon = DecimalInterner()
    first = D("0.0100")
    assert canon(first) is first
    again = D("0.0100")
    assert again is not first
    assert canon(again) is first


@pytest.mark.parametrize(("kept", "other"), [("0.03", "0.0300"), ("0", "-0"), ("0", "0.0"), ("1E+1", "10"),
                                             ("97000.5", "97000.50")])
def test_an_equal_value_written_otherwise_is_not_replaced(kept: str, other: str) -> None:
    canon = DecimalInterner()
    canon(D(kept))
    value = D(other)
    assert value == D(kept)
    got = canon(value)
    assert got is value and str(got) == str(D(other))


def test_the_table_is_bounded_and_objects_handed_out_stay_valid() -> None:
    canon = DecimalInterner(limit=3)
    handed = [canon(D(f"{i}.5")) for i in range(3)]
    canon.trim()  # full: emptied, then refilled by what comes next
    assert len(canon) == 0
    fourth = canon(D("3.5"))
    assert len(canon) == 1 and canon(D("3.5")) is fourth
    assert [str(d) for d in handed] == ["0.5", "1.5", "2.5"]
    assert canon(D("0.5")) is not handed[0]  # forgotten, so a new object becomes the shared one
    canon.trim()
    assert len(canon) == 2  # below the limit: kept


def test_share_is_the_same_table() -> None:
    canon = DecimalInterner()
    first = D("0.0043")
    assert canon.share(str(first), first) is first
    other = D("0.0043")
    assert canon.share(str(other), other) is first and canon(D("0.0043")) is first


def test_special_values_keep_what_they_are() -> None:
    canon = DecimalInterner()
    for text in ("sNaN", "NaN", "-Infinity", "-0"):
        got = canon(D(text))
        assert str(got) == text and str(canon(D(text))) == text
    assert canon(D("-0")).is_signed() and not canon(D("0")).is_signed()


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        DecimalInterner(limit=0)
