"""Fail unless the built API reference documents every public name (run by ``nox -s docs`` after the build).

Public = every name in the ``__all__`` of ``trio_hl`` and of its public packages; documented = listed in the
site's ``objects.inv`` (the inventory mkdocstrings writes: one entry per rendered object).  A name added to an
``__all__`` without a page to show it fails CI here, rather than going missing from the reference.
"""

from __future__ import annotations

import importlib
import sys
import zlib
from pathlib import Path

PACKAGES = ("trio_hl", "trio_hl.demo", "trio_hl.emulator", "trio_hl.execution", "trio_hl.paper")
ALSO = ("trio_hl.hyperliquid.signing.LocalSigner", "trio_hl.core.book.OrderBook", "trio_hl.core.order.InFlightOrder")
MARKER = b"# The remainder of this file is compressed using zlib.\n"


def documented(inventory: Path) -> set[str]:
    data = inventory.read_bytes()
    _, found, compressed = data.partition(MARKER)
    if not found:
        raise SystemExit(f"{inventory}: not a Sphinx inventory (v2)")
    return {line.split(" ", 1)[0] for line in zlib.decompress(compressed).decode().splitlines() if line}


def main(site: str = "site") -> int:
    names = documented(Path(site) / "objects.inv")
    missing = [name for name in ALSO if name not in names]
    for package in PACKAGES:
        module = importlib.import_module(package)
        missing += [f"{package}.{n}" for n in module.__all__
                    if not n.startswith("__") and f"{package}.{n}" not in names]
    if missing:
        print(f"{len(missing)} public name(s) missing from the API reference:", *missing, sep="\n  ")
        return 1
    total = sum(len(importlib.import_module(p).__all__) for p in PACKAGES) + len(ALSO)
    print(f"API reference: all {total} public names documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
