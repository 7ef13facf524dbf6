"""Recovery (issue 17): a journal that cannot be written, UNKNOWN orders in risk refusals, a restart that finds
maybe-sent orders, and a second restart that continues the first one's settlement."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from test_connector import FAST_WS, far_below, size_for, until

from trio_hl import ConnectorConfig, JournalError, OrderParams, OrderState, open_connector
from trio_hl.core.events import Event, HealthChanged, HealthIssue, OrderCreated
from trio_hl.core.journal import Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import Side
from trio_hl.emulator import Limits, open_emulator
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.settle import NEVER_LANDED
from trio_hl.hyperliquid.signing import LocalSigner

pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


async def test_a_full_disk_refuses_orders_cancels_what_rests_and_ends_the_connector_naming_the_journal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.sqlite"
    key = LocalSigner.generate().export_private_key_hex()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        refused: list[JournalError] = []
        seen: list[Event] = []
        placed: list[str] = []
        with pytest.raises(BaseException) as caught:
            async with open_connector(cfg, ws_settings=FAST_WS) as conn:
                events = conn.events()
                resting = [conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
                           for _ in range(3)]
                for cid in resting:
                    await until(events, lambda e, cid=cid: isinstance(e, OrderCreated) and e.client_order_id == cid)
                # The disk fills up: SQLite cannot grow the file by one more page (SQLITE_FULL) once the free room
                # in its last pages is used.  Keep trading until the journal refuses.
                db = conn._journal._conn  # type: ignore[union-attr]
                assert db is not None
                db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
                with trio.fail_after(30):
                    while conn.storage_error is None:
                        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
                        placed.append(cid)
                        seen += await until(events, lambda e, cid=cid: e.client_order_id == cid
                                            or isinstance(e, HealthChanged))
                if not any(isinstance(e, HealthChanged) and HealthIssue.JOURNAL_UNWRITABLE in e.issues for e in seen):
                    seen += await until(events, lambda e: isinstance(e, HealthChanged)
                                        and HealthIssue.JOURNAL_UNWRITABLE in e.issues)
                with pytest.raises(JournalError) as err:
                    conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
                refused.append(err.value)
                await trio.sleep_forever()  # the connector cancels what rests, then ends itself
        ended = [leaf for leaf in _leaves(caught.value) if isinstance(leaf, JournalError)]
        assert ended, caught.value
        assert str(path) in str(ended[0]) and "database or disk is full" in str(ended[0])
        assert str(path) in str(refused[0]) and "no new orders" in str(refused[0])
        truth = {o["cloid"]: o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]}
        assert set(truth.values()) == {"canceled"}  # nothing left resting unmanaged
        assert set(resting) <= set(truth)
        for cid in placed:  # an order whose write-ahead record could not be committed never left
            order = conn.get_order(cid)
            assert order is not None and order.is_done
            if cid not in truth:
                assert order.state is OrderState.FAILED and "not sent" in (order.reason or "")
                assert str(path) in (order.reason or "")
        assert not conn.keep_dead_mans_switch  # every order was confirmed cancelled: nothing left to the venue


async def test_a_journal_in_a_missing_directory_is_refused_at_startup_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "orders.sqlite"
    cfg = ConnectorConfig(base_url="http://127.0.0.1:1", private_key=LocalSigner.generate().export_private_key_hex(),
                          journal_path=path)
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=cfg.private_key, journal_path=path)
        with pytest.raises(JournalError, match=f"journal {path}: open failed: .*directory {path.parent} does not"):
            async with open_connector(cfg, ws_settings=FAST_WS):
                pass  # pragma: no cover


def _crashed_journal(path: Path, signer: str, orders: list[tuple[str, int]], *, at: float) -> None:
    """A journal whose last run sent ``orders`` (cid, nonce) and died before any answer."""
    with Journal(path) as journal:
        tracker = OrderTracker(clock=lambda: at, journal=journal)
        for cid, nonce in orders:
            tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY,
                                                     amount=Decimal("0.001"), price=Decimal("1000"),
                                                     created_at=at))
            journal.append_sending(at, [cid], nonce, signer)


async def test_unknown_orders_count_against_risk_limits_and_the_refusal_says_so(tmp_path: Path) -> None:
    """Restored maybe-sent orders count as open orders until settled; a refusal meanwhile names them."""
    from trio_hl.core.risk import RiskBreachError, RiskLimits

    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    now = time.time()
    _crashed_journal(path, LocalSigner(key).address, [(wire.new_cloid(), int(now * 1000) - i) for i in range(2)],
                     at=now)
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, ws_settings=FAST_WS, risk=RiskLimits(max_open_orders=2)) as conn:
            if not conn.restore_settled.is_set():  # the settlement runs in the background: race it
                with pytest.raises(RiskBreachError, match=r"\(includes 2 UNKNOWN orders awaiting resolution\)"):
                    conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            with trio.fail_after(10):
                await conn.restore_settled.wait()
            settled = conn.tracker.finished_orders()
            assert len(settled) == 2 and all(o.state is OrderState.FAILED and o.reason == NEVER_LANDED for o in settled)
            conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))  # room again


async def test_a_second_restart_continues_the_settlement_without_a_second_fence(tmp_path: Path) -> None:
    """The first restart fenced the nonces and died before reading the venue: the second finds the fence in the
    journal, sends no noop but its identity check, and settles from the bulk reads."""
    key = LocalSigner.generate().export_private_key_hex()
    signer = LocalSigner(key).address
    path = tmp_path / "orders.sqlite"
    now = time.time()
    cids = [wire.new_cloid() for _ in range(5)]
    nonce = int(now * 1000)
    _crashed_journal(path, signer, [(cid, nonce) for cid in cids], at=now)
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        # What the first restart left: its fence (100 noops accepted above the nonce) and the fence record.
        for i in range(100):
            emu.app.nonces.accept(signer, nonce + 1000 + i, int(time.time() * 1000))
        with Journal(path) as journal:
            journal.append_fence(time.time(), signer, nonce)
        async with open_connector(cfg, ws_settings=FAST_WS) as conn:
            with trio.fail_after(10):
                await conn.restore_settled.wait()
            report = conn.restore_report
            assert report is not None and not report.fenced and report.orders == 5 and report.never_landed == 5
            assert all(conn.get_order(cid).state is OrderState.FAILED for cid in cids)  # type: ignore[union-attr]
            assert conn.submit.statistics().actions_sent == 0  # no fence noop (the identity check is not counted)


async def test_a_second_restart_continues_the_not_found_rounds_of_an_order_resolved_by_asking(tmp_path: Path) -> None:
    """An order from a journal without nonces is resolved by asking: ``landed_polls`` (3) not-found rounds, then
    FAILED.  The first restart spent two rounds (journaled as not-found answers) and died: the second asks twice
    more, not four times."""
    from test_connector import Wire, _journal_of_a_previous_run

    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    cid = _journal_of_a_previous_run(path, LocalSigner(key).address, sent_with=None)
    with Journal(path) as journal:
        tracker = journal.restore(clock=time.time).tracker
        tracker.process_not_found(cid)
        tracker.process_not_found(cid)
    net = Wire()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, transport=net.transport(), ws_settings=FAST_WS) as conn:
            events = conn.events()
            with trio.fail_after(15):
                while (order := conn.get_order(cid)) is not None and not order.is_done:
                    await events.receive()
            assert order is not None and order.state is OrderState.FAILED
            assert "no answer before the restart" in (order.reason or "")
    assert net.status_asked == [cid] * 2
