"""Paper trading and backtests: the :class:`~trio_hl.core.connector.Connector` protocol with simulated fills.

``open_paper_connector(source, rules)`` runs a :class:`PaperConnector` over a market source - another connector's
live data (:class:`ConnectorSource`), a recorded capture (``trio_hl.paper.recorded.RecordedSource``), frames in
memory (:class:`FrameSource`) or a scripted market (:class:`ManualSource`).  Fill model: ``trio_hl.paper.fills``.
"""

from trio_hl.paper.connector import PaperConnector, PaperHealth, open_paper_connector
from trio_hl.paper.fills import FillModel, SimVenue
from trio_hl.paper.market import (
    BookFrame,
    ConnectorSource,
    FrameSource,
    ManualSource,
    MarketFrame,
    MarketSource,
    TradeFrame,
)

__all__ = [
    "BookFrame",
    "ConnectorSource",
    "FillModel",
    "FrameSource",
    "ManualSource",
    "MarketFrame",
    "MarketSource",
    "PaperConnector",
    "PaperHealth",
    "SimVenue",
    "TradeFrame",
    "open_paper_connector",
]
