"""The connector conformance suite (``trio_hl.testing.conformance``) for both implementations: the Hyperliquid
connector on the emulator and the paper connector on a scripted market."""

from __future__ import annotations

import pytest

from trio_hl.emulator import Emulator
from trio_hl.testing.conformance import ConformanceHarness, ConnectorConformance, PaperHarness
from trio_hl.testing.emulator_harness import EmulatorHarness


@pytest.mark.hl_emulator(quiet=True)
class TestHyperliquidConformance(ConnectorConformance):
    @pytest.fixture
    def conformance_harness(self, hl_emulator: Emulator) -> ConformanceHarness:
        return EmulatorHarness(hl_emulator)


class TestPaperConformance(ConnectorConformance):
    @pytest.fixture
    def conformance_harness(self) -> ConformanceHarness:
        return PaperHarness()


class TestPaperWithLatencyConformance(ConnectorConformance):
    """The same contract when requests take 50 ms to reach the simulated venue."""

    @pytest.fixture
    def conformance_harness(self) -> ConformanceHarness:
        return PaperHarness(latency_s=0.05)
