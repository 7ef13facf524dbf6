"""These tests need third-party clients that only the ``nox -s sdk_compat`` virtualenv has (the official SDK,
which pins ``eth-account<0.14``, and ccxt); elsewhere their modules are not collected at all."""

import importlib.util

_HAS_SDK = importlib.util.find_spec("hyperliquid") is not None
_HAS_CCXT = importlib.util.find_spec("ccxt") is not None

collect_ignore_glob = [] if _HAS_SDK else ["test_*.py"]
if _HAS_SDK and not _HAS_CCXT:
    collect_ignore_glob.append("test_ccxt_compat.py")
elif _HAS_CCXT and not _HAS_SDK:
    collect_ignore_glob = ["test_[!c]*.py", "test_c[!c]*.py"]
