"""argparse types shared by the ``trio-hl`` commands: a bad value is a usage error naming the flag.

argparse turns an ``ArgumentTypeError`` into ``trio-hl <command>: argument --flag: <message>``, exit 2 (one line,
see :class:`trio_hl.cli_errors.OneLineArgumentParser`), before anything starts.
"""

from __future__ import annotations

import argparse
import math
from decimal import Decimal

__all__ = ["decimal_arg", "duration_arg", "non_negative_decimal_arg", "non_negative_float_arg", "port_arg",
           "positive_decimal_arg", "positive_float_arg", "positive_int_arg"]


def decimal_arg(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_decimal_arg(text: str) -> Decimal:
    value = decimal_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_decimal_arg(text: str) -> Decimal:
    value = decimal_arg(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def duration_arg(text: str) -> float:
    """Seconds, 0 meaning "until Ctrl-C"; a negative duration is refused (it used to mean "for ever")."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (until Ctrl-C) or a positive number of seconds, got {text}")
    return value


def non_negative_float_arg(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float_arg(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def positive_int_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def port_arg(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port in 0..65535, got {port}")
    return port
