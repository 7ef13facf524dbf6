"""These tests need the official SDK, which only the ``nox -s sdk_compat`` virtualenv has; elsewhere the
directory is not collected at all."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("hyperliquid") else ["test_*.py"]
