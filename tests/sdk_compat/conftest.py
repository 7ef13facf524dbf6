"""These tests drive third-party clients that only the ``nox -s sdk_compat`` virtualenv has: the official SDK
(which pins ``eth-account<0.14``) and ccxt.  A module whose client is missing is not collected at all."""

import importlib.util
from pathlib import Path

_CCXT_MODULES = {"test_ccxt_compat.py"}
_HAVE_SDK = importlib.util.find_spec("hyperliquid") is not None
_HAVE_CCXT = importlib.util.find_spec("ccxt") is not None

collect_ignore = [
    path.name for path in Path(__file__).parent.glob("test_*.py")
    if not (_HAVE_CCXT if path.name in _CCXT_MODULES else _HAVE_SDK)
]
