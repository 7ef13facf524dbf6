"""The benchmark driver (``benchmarks/run_all.py``) says why a benchmark failed, and judges goals correctly.

The report run of the previous session lost a failing benchmark's cause: Trio raised an exception group, and the
driver kept only the last line of stderr - the group's box drawing.  These tests feed it real tracebacks.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run_all"] = module
    spec.loader.exec_module(module)
    return module


def _stderr_of(exc: BaseException) -> str:
    try:
        raise exc
    except BaseException as raised:
        return "".join(traceback.format_exception(raised))


def test_the_innermost_error_of_a_nested_exception_group_is_named(run_all: ModuleType) -> None:
    inner = ExceptionGroup("burst", [RuntimeError("open-order cap 1000 reached for 0xabc")])
    text = _stderr_of(ExceptionGroup("nursery", [inner]))
    assert text.rstrip().splitlines()[-1].strip().startswith("+---")  # what the old driver reported
    assert run_all.error_summary(text) == "RuntimeError: open-order cap 1000 reached for 0xabc"


def test_the_last_of_several_sub_exceptions_is_named(run_all: ModuleType) -> None:
    text = _stderr_of(ExceptionGroup("two", [ValueError("first"), KeyError("second")]))
    assert run_all.error_summary(text) == "KeyError: 'second'"


def test_a_plain_traceback_keeps_its_last_line(run_all: ModuleType) -> None:
    text = _stderr_of(AssertionError("restore took 0.9 s")) + ""
    assert run_all.error_summary(text) == "AssertionError: restore took 0.9 s"


def test_a_message_without_an_exception_line_is_kept(run_all: ModuleType) -> None:
    assert run_all.error_summary("killed by the OOM killer\n") == "killed by the OOM killer"
    assert run_all.error_summary("  \n | \n +----\n") == "(no output)"


@pytest.mark.parametrize(("value", "goal", "met"), [
    (10_001, ">= 10,000", True), (9_999, ">= 10000", False), (9.5, "<= 10", True), (40.1, "<= 40", False),
    (0.9, 0.9, True), (0.89, 0.9, False), ("n/a", ">= 1", None), (1.0, "about 1", None),
])
def test_goal_verdicts(run_all: ModuleType, value: object, goal: object, met: bool | None) -> None:
    assert run_all.goal_met(value, goal) is met
