"""The market-making demo: ``trio-hl demo`` (see ``runner``), its strategy (``strategy``) and view (``view``).

The strategy is importable on its own: ``compute_quotes`` is a pure function and ``MarketMaker`` uses only
the connector's public API.
"""

from trio_hl.demo.runner import DemoOptions, DemoSummary, run_demo
from trio_hl.demo.strategy import Inventory, MarketMaker, Quote, QuoteParams, Quotes, compute_quotes, mid_moved

__all__ = [
    "DemoOptions",
    "DemoSummary",
    "Inventory",
    "MarketMaker",
    "Quote",
    "QuoteParams",
    "Quotes",
    "compute_quotes",
    "mid_moved",
    "run_demo",
]
