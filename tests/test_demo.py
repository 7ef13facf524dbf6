"""The market-making demo: pure quote computation and accounting, the view, and whole runs against the emulator."""

from __future__ import annotations

import io
import signal
from decimal import Decimal
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.types import Side
from trio_hl.demo import DemoOptions, Inventory, MarketMaker, QuoteParams, compute_quotes, mid_moved, run_demo
from trio_hl.demo.strategy import hyperliquid_style_rule
from trio_hl.demo.view import FillRow, OrderRow, ViewState, render_line, render_screen
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.signing import LocalSigner

D = Decimal
BTC_SZD = 5  # the emulator's (and the venue's) BTC szDecimals
#: Takers every ~0.3 s instead of ~3 s, so a run of a few seconds surely trades.
FAST_MARKET: dict[str, Any] = {"engine_options": {"market_options": {"take_interval_ms": 300}}}


def quotes(mid: str, position: str = "0", **params: Any) -> Any:
    defaults: dict[str, Any] = {"size": D("0.01"), "spread_bps": D(10), "max_position": D("0.05"), "skew_bps": D(5)}
    defaults.update(params)
    book = {k: params.pop(k) for k in ("best_bid", "best_ask") if k in params}
    for k in book:
        defaults.pop(k)
    return compute_quotes(D(mid), D(position), QuoteParams(**defaults), sz_decimals=BTC_SZD,
                          **{k: D(v) for k, v in book.items()})


# ------------------------------------------------------------------------------------------- quotes


def test_flat_quotes_are_symmetric_around_the_mid() -> None:
    q = quotes("100000")
    assert q.bid is not None and q.ask is not None
    assert q.bid.price == D(99950) and q.ask.price == D(100050)  # 5 bps each side
    assert q.bid.amount == q.ask.amount == D("0.01")
    assert q.reservation == D(100000)


def test_a_long_position_shades_both_quotes_down_and_a_short_one_up() -> None:
    flat, long, short = quotes("100000"), quotes("100000", "0.025"), quotes("100000", "-0.025")
    assert long.bid.price < flat.bid.price and long.ask.price < flat.ask.price
    assert short.bid.price > flat.bid.price and short.ask.price > flat.ask.price
    assert long.reservation == D(100000) * (1 - D(5) * D("0.5") / 10_000)


def test_inventory_limit_shrinks_then_withdraws_the_side_that_adds_to_it() -> None:
    near = quotes("100000", "0.045")
    assert near.bid is not None and near.bid.amount == D("0.005")  # only the room left to the limit
    assert near.ask is not None and near.ask.amount == D("0.01")
    full = quotes("100000", "0.05")
    assert full.bid is None and full.ask is not None
    short = quotes("100000", "-0.06")  # beyond the limit (e.g. restored): never add to it
    assert short.ask is None and short.bid is not None


def test_quotes_never_cross_the_book() -> None:
    # A full long skews the ask far below the mid; it is capped one tick above the best bid instead.
    q = quotes("100000", "0.05", skew_bps=D(50), best_bid="99990", best_ask="100010")
    assert q.ask is not None and q.ask.price == D(99991)
    q = quotes("100000", "-0.05", skew_bps=D(50), best_bid="99990", best_ask="100010")
    assert q.bid is not None and q.bid.price == D(100009)


def test_prices_round_passively_and_sizes_to_the_lot() -> None:
    q = compute_quotes(D("3.123456"), D(0), QuoteParams(size=D("7.777"), spread_bps=D(3)), sz_decimals=2)
    assert q.bid is not None and q.ask is not None
    assert q.bid.price == D("3.1229") and q.ask.price == D("3.1240")  # 5 significant figures, bid down, ask up
    assert q.bid.amount == D("7.77")


def test_quotes_below_the_minimum_order_value_are_not_sent() -> None:
    q = compute_quotes(D(100000), D(0), QuoteParams(size=D("0.00005")), sz_decimals=BTC_SZD)
    assert q.bid is None and q.ask is None


@pytest.mark.parametrize("bad", [{"size": D(0)}, {"size": D(1), "spread_bps": D(0)},
                                 {"size": D(1), "max_position": D(-1)}, {"size": D(1), "skew_bps": D(-1)}])
def test_bad_params_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        QuoteParams(**bad)


def test_max_position_defaults_to_five_sizes() -> None:
    assert QuoteParams(size=D(2)).max_position == D(10)


@given(
    mid=st.decimals(min_value=D("0.01"), max_value=D(200000), places=4),
    position=st.decimals(min_value=D(-2), max_value=D(2), places=3),
    spread=st.decimals(min_value=D("0.5"), max_value=D(100), places=1),
    skew=st.decimals(min_value=D(0), max_value=D(100), places=1),
    half_book=st.integers(min_value=0, max_value=50),
)
def test_quote_invariants(mid: Decimal, position: Decimal, spread: Decimal, skew: Decimal, half_book: int) -> None:
    params = QuoteParams(size=D(1), spread_bps=spread, max_position=D(1), skew_bps=skew)
    bb = mid * (1 - D(half_book) / 10_000) if half_book else None
    ba = mid * (1 + D(half_book) / 10_000) if half_book else None
    q = compute_quotes(mid, position, params, sz_decimals=2, best_bid=bb, best_ask=ba)
    for quote, side, room in ((q.bid, Side.BUY, 1 - position), (q.ask, Side.SELL, 1 + position)):
        if quote is None:
            continue
        assert 0 < quote.amount <= min(D(1), room)
        assert quote.amount * quote.price >= 10
        assert wire.round_price(quote.price, 2, False, side=side, aggressive=False) == quote.price  # valid price
    if q.bid and q.ask:
        assert q.bid.price < q.ask.price
    if q.bid and ba is not None:
        assert q.bid.price < ba
    if q.ask and bb is not None:
        assert q.ask.price > bb


def test_mid_moved_threshold() -> None:
    assert mid_moved(None, D(100), D(1))
    assert not mid_moved(D(100), D("100.01"), D(1))  # exactly 1 bp: not more than the threshold
    assert mid_moved(D(100), D("100.011"), D(1))
    assert mid_moved(D(100), D("99.98"), D(1))


# ------------------------------------------------------------------------------------------- accounting


def test_inventory_average_cost_realized_and_unrealized_pnl() -> None:
    inv = Inventory()
    inv.apply(Side.BUY, D(100), D(2), fee=D("0.01"))
    inv.apply(Side.BUY, D(103), D(1))
    assert inv.position == 3 and inv.average_price == D(101)
    assert inv.unrealized(D(102)) == D(3)
    assert inv.apply(Side.SELL, D(104), D(1)) == D(3)
    assert inv.position == 2 and inv.average_price == D(101)
    # Flip: close 2 at 99 (−4), open a short of 1 at 99.
    assert inv.apply(Side.SELL, D(99), D(3)) == D(-4)
    assert inv.position == -1 and inv.average_price == D(99)
    assert inv.unrealized(D(98)) == D(1)
    inv.apply(Side.BUY, D(98), D(1))
    assert inv.position == 0 and inv.average_price == 0
    assert inv.realized == D(0) and inv.fees == D("0.01") and inv.net(D(1)) == D("-0.01")
    assert inv.fills == 5 and inv.bought == 4 and inv.sold == 4
    assert inv.volume == D(200 + 103 + 104 + 297 + 98)
    with pytest.raises(ValueError):
        inv.apply(Side.BUY, D(1), D(0))


# ------------------------------------------------------------------------------------------- re-quoting


class _QuotingConn:
    """Just enough of a connector for ``MarketMaker``'s re-quote path: a book, live orders, recorded calls."""
    def __init__(self) -> None:

        from trio_hl.core.book import OrderBook

        self.rule = hyperliquid_style_rule(BTC_SZD)
        self.orders: dict[str, Any] = {}
        self.modifies: list[tuple[str, Decimal | None]] = []
        self._book = OrderBook("BTC")
        self.set_book(D(99990), D(100010))

    def set_book(self, bid: Decimal, ask: Decimal) -> None:
        from trio_hl.core.book import BookLevel

        stamp = (self._book.timestamp or 0.0) + 1
        self._book.apply_snapshot([BookLevel(bid, D(1))], [BookLevel(ask, D(1))], stamp)

    def book(self, pair: str) -> Any:
        return self._book

    def trading_rule(self, pair: str) -> Any:
        return self.rule

    def _new(self, params: Any, side: Side) -> str:
        from trio_hl.core.order import InFlightOrder
        from trio_hl.core.types import OrderState

        cid = f"0x{len(self.orders) + 1:032x}"
        order = InFlightOrder.new(client_order_id=cid, pair="BTC", side=side, amount=params.amount,
                                  price=params.price, created_at=0.0)
        order.state = OrderState.OPEN  # (acknowledged at once, for this test)
        self.orders[cid] = order
        return cid

    def buy(self, params: Any) -> str:
        return self._new(params, Side.BUY)

    def sell(self, params: Any) -> str:
        return self._new(params, Side.SELL)

    def get_order(self, cid: str) -> Any:
        return self.orders.get(cid)

    def modify(self, cid: str, *, price: Decimal | None = None, amount: Decimal | None = None) -> None:
        self.modifies.append((cid, price))


def test_a_refused_modify_is_requoted_at_once() -> None:
    """``ModifyRejected`` says the quote still rests at its old price: the strategy re-quotes at once.  Without it
    the quote it had *asked* for looked in place, and the stale quote stayed until the mid moved again."""
    from trio_hl.core.events import ModifyRejected
    from trio_hl.core.types import OrderState

    conn = _QuotingConn()
    mm = MarketMaker(conn, "BTC", QuoteParams(size=D("0.001"), spread_bps=D(2), requote_bps=D(1)),  # type: ignore[arg-type]
                     clock=lambda: 100.0)
    mm.on_book(conn.book("BTC"))
    bid = mm.working[Side.BUY]
    assert bid is not None and not conn.modifies
    resting = bid.price
    conn.set_book(D(100090), D(100110))  # the mid moves 10 bps: re-quote by modify
    mm.on_book(conn.book("BTC"))
    assert [cid for cid, _ in conn.modifies].count(bid.client_order_id) == 1
    asked = bid.price
    assert asked != resting and bid.modify_sent_at is not None
    rejected = ModifyRejected(bid.client_order_id, "BTC", 100.0, "Too many cumulative requests sent",
                              OrderState.OPEN, "7", resting, bid.amount, asked, bid.amount)
    mm.on_event(rejected)
    # the re-quote went again at once (same clock reading: not after MODIFY_PATIENCE_S)
    assert [cid for cid, _ in conn.modifies].count(bid.client_order_id) == 2
    assert conn.modifies[-1] == (bid.client_order_id, asked) and bid.price == asked
    assert mm.stats.modifies_rejected == 1


# ------------------------------------------------------------------------------------------- view


def _view(**overrides: Any) -> ViewState:
    fields: dict[str, Any] = dict(
        pair="BTC", venue="emulator", elapsed=3.0, duration=30.0, best_bid=(D(99990), D("0.5")),
        best_ask=(D(100010), D("0.7")), mid=D(100000),
        orders=[OrderRow(Side.BUY, D(99985), D("0.001"), D(0), "open")],
        fills=[FillRow(0.0, Side.SELL, D(100015), D("0.001"), D("0.015"))],
        position=D("-0.001"), average_price=D(100015), realized=D(0), unrealized=D("0.015"), fees=D("0.015"),
        fill_count=1, volume=D("100.015"), orders_placed=2, modifies=3, cancels=0, rejected=0, ws_connected=True,
        trading_ready=True, reconnects=0, user_stream_age=0.2, book_age=0.1, ack_p50_ms=2.5, ack_p99_ms=9.0,
        ack_max_ms=9.5, zmq_endpoint="tcp://127.0.0.1:5557", zmq_published=7, zmq_subscribers=1,
    )
    fields.update(overrides)
    return ViewState(**fields)


def test_screen_shows_book_orders_fills_pnl_health_and_latency() -> None:
    screen = render_screen(_view(), color=False)
    assert screen.startswith("\x1b[H\x1b[2J")
    for text in ("99,990.0000", "100,010.0000", "buy", "99,985.0000", "sell", "-0.00100", "net +0.0000",
                 "ws up", "p50 2.5 ms", "p99 9.0 ms", "tcp://127.0.0.1:5557", "27 s left"):
        assert text in screen, text
    assert "\x1b[1m" in render_screen(_view())
    assert "DOWN" in render_screen(_view(ws_connected=False, zmq_endpoint=None), color=False)


def test_status_line_has_no_escape_codes() -> None:
    line = render_line(_view())
    assert "\x1b" not in line and "fills 1" in line and "open 1" in line and "99,990.0000/100,010.0000" in line


# ------------------------------------------------------------------------------------------- whole runs


@pytest.fixture
def emulator() -> None:
    """The whole-run tests need the emulator's matching engine."""
    pytest.importorskip("trio_hl.emulator.engine")


async def test_demo_trades_against_the_embedded_emulator_and_leaves_nothing_open(emulator: None) -> None:
    out = io.StringIO()
    opts = DemoOptions(duration=3.0, ui=False, log_interval=1.0, zmq="tcp://127.0.0.1:*",
                       emulator_options=FAST_MARKET)
    with trio.fail_after(30):
        summary = await run_demo(opts, out=out)
    assert summary.clean_shutdown
    assert summary.fills > 0 and summary.volume > 0
    assert summary.orders_placed >= 2
    assert summary.open_orders_left == 0 and summary.venue_open_orders == 0
    assert summary.venue_position == summary.position
    assert summary.zmq_endpoint is not None and summary.zmq_endpoint.startswith("tcp://127.0.0.1:")
    assert summary.zmq_published > 0
    text = out.getvalue()
    assert "\x1b" not in text  # --no-ui: plain status lines
    assert "fills " in text and "trio-hl demo: BTC on embedded emulator" in text


async def test_demo_against_a_base_url_matches_the_venue_ground_truth(emulator: None) -> None:
    from trio_hl.emulator import open_emulator

    signer = LocalSigner.generate()
    async with open_emulator(seed=3, **FAST_MARKET) as emu:
        opts = DemoOptions(pair="ETH", duration=3.0, ui=False, zmq=None, base_url=emu.url,
                           private_key=signer.export_private_key_hex(), requote_mode="cancel")
        out = io.StringIO()
        with trio.fail_after(30):
            summary = await run_demo(opts, out=out)
        truth = emu.engine.ground_truth(signer.address)
    assert summary.clean_shutdown and summary.fills > 0
    assert summary.modifies == 0 and summary.cancels > 0  # cancel + replace mode
    assert truth["openOids"] == []
    assert len(truth["fills"]) == summary.fills
    assert D(truth["positions"].get("ETH", "0")) == summary.position
    assert signer.export_private_key_hex()[2:] not in out.getvalue()


async def test_ctrl_c_with_duration_zero_shuts_down_cleanly(emulator: None) -> None:
    opts = DemoOptions(duration=0, ui=False, zmq=None, emulator_options=FAST_MARKET)
    result: list[Any] = []

    async def run(task_status: trio.TaskStatus[MarketMaker] = trio.TASK_STATUS_IGNORED) -> None:
        result.append(await run_demo(opts, out=io.StringIO(), handle_sigint=True, task_status=task_status))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            mm: MarketMaker = await nursery.start(run)
            events = mm.conn.events()
            async for event in events:  # wait until something is quoted, then "press" Ctrl-C
                if type(event).__name__ == "OrderCreated":
                    break
            signal.raise_signal(signal.SIGINT)
    summary = result[0]
    assert summary.clean_shutdown and summary.orders_placed >= 1
    assert summary.open_orders_left == 0 and summary.venue_open_orders == 0


def test_cli_demo_runs_and_exits_zero(emulator: None, capsys: pytest.CaptureFixture[str]) -> None:
    from trio_hl.cli import main

    assert main(["demo", "--duration", "1.5", "--no-ui", "--no-zmq", "--pair", "ETH", "--spread-bps", "4"]) == 0
    out = capsys.readouterr().out
    assert "trio-hl demo: ETH on embedded emulator" in out and "open at exit: ours 0, venue 0" in out


def test_cli_demo_needs_a_key_for_a_real_venue(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from trio_hl.cli import main

    monkeypatch.delenv("TRIO_HL_PRIVATE_KEY", raising=False)
    assert main(["demo", "--base-url", "http://127.0.0.1:9", "--no-zmq"]) == 2  # the command line must change
    assert "TRIO_HL_PRIVATE_KEY" in capsys.readouterr().err
    monkeypatch.setenv("TRIO_HL_PRIVATE_KEY", LocalSigner.generate().export_private_key_hex())
    assert main(["demo", "--base-url", "https://api.hyperliquid.xyz", "--no-zmq"]) == 2
    assert "--allow-mainnet" in capsys.readouterr().err
