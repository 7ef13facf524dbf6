"""The emulator's HTTP front end against the real server on 127.0.0.1:0: parsing, signatures, nonces,
expiry, rate weights, error strings (PROTOCOL §4, §8, §11)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from trio_hl.emulator import AutoFund, Limits, open_emulator
from trio_hl.emulator._ratelimit import exchange_weight, info_base_weight, info_extra_weight
from trio_hl.emulator.app import DESERIALIZE_ERROR
from trio_hl.hyperliquid.signing import LocalSigner, recover_l1_signer, sign_l1_action, sign_user_action
from trio_hl.hyperliquid.wire import exchange_body, noop_action, update_leverage_action, usd_class_transfer_action


def signed_body(signer: LocalSigner, action: dict[str, Any], nonce: int, *, vault: str | None = None,
                expires_after: int | None = None, is_mainnet: bool = False) -> dict[str, Any]:
    signature = sign_l1_action(signer, action, vault, nonce, expires_after, is_mainnet)
    return exchange_body(action, nonce, signature, vault, expires_after)


async def post(url: str, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as client:
        if isinstance(body, bytes):
            return await client.post(path, content=body, headers={"content-type": "application/json"})
        return await client.post(path, json=body)


async def name(url: str, signer: LocalSigner) -> None:
    """Read the account's state first, as every client does (this is what funds it under AutoFund.NAMED)."""
    response = await post(url, "/info", {"type": "clearinghouseState", "user": signer.address})
    assert response.status_code == 200


async def test_starts_on_a_free_port_quickly() -> None:
    started = time.perf_counter()
    async with open_emulator() as emu:
        elapsed = time.perf_counter() - started
        assert emu.port > 0
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert emu.ws_url == f"ws://127.0.0.1:{emu.port}/ws"
        response = await post(emu.url, "/info", {"type": "meta", "dex": ""})
    assert elapsed < 1.0
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    names = [asset["name"] for asset in response.json()["universe"]]
    assert "BTC" in names


async def test_info_malformed_and_unknown_are_422_plain_text() -> None:
    async with open_emulator() as emu:
        bad_json = await post(emu.url, "/info", b"{not json")
        no_type = await post(emu.url, "/info", {"user": "0x0"})
        unknown = await post(emu.url, "/info", {"type": "definitelyNotAnInfoType"})
        not_object = await post(emu.url, "/info", [1, 2])
    for response in (bad_json, no_type, unknown, not_object):
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text.startswith(DESERIALIZE_ERROR)


async def test_unknown_path_and_method() -> None:
    async with open_emulator() as emu, httpx.AsyncClient(base_url=emu.url) as client:
        assert (await client.post("/nope", json={})).status_code == 404
        assert (await client.get("/info")).status_code == 405


async def test_exchange_malformed_bodies_are_422() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        good = signed_body(signer, noop_action(), emu.now_ms())
        cases = [
            b"[",
            {**good, "nonce": "1"},
            {**good, "nonce": -1},
            {k: v for k, v in good.items() if k != "signature"},
            {**good, "action": "noop"},
            {**good, "vaultAddress": 5},
            {**good, "expiresAfter": "soon"},
        ]
        responses = [await post(emu.url, "/exchange", case) for case in cases]
    for response in responses:
        assert response.status_code == 422, response.text
        assert response.text.startswith(DESERIALIZE_ERROR)


async def test_signed_action_is_applied_for_a_named_account() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        response = await post(emu.url, "/exchange",
                              signed_body(signer, update_leverage_action(0, True, 5), emu.now_ms()))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "response": {"type": "default"}}


async def test_vault_address_and_missing_optional_fields_are_accepted() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        body = signed_body(signer, update_leverage_action(0, True, 3), emu.now_ms())
        del body["vaultAddress"], body["expiresAfter"]
        response = await post(emu.url, "/exchange", body)
    assert response.json()["status"] == "ok"


async def test_forged_signature_gets_the_venue_error_for_the_recovered_address() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        nonce = emu.now_ms()
        body = signed_body(signer, update_leverage_action(0, True, 5), nonce)
        body["action"] = update_leverage_action(0, True, 50)  # tampered after signing
        recovered = recover_l1_signer(body["action"], None, nonce, None, False, body["signature"]).lower()
        response = await post(emu.url, "/exchange", body)
    assert recovered != signer.address.lower()
    assert response.status_code == 200
    assert response.json() == {"status": "err", "response": f"User or API Wallet {recovered} does not exist."}


async def test_mainnet_signature_on_a_testnet_emulator_is_a_different_signer() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        body = signed_body(signer, noop_action(), emu.now_ms(), is_mainnet=True)
        response = await post(emu.url, "/exchange", body)
    assert response.json()["response"].startswith("User or API Wallet 0x")
    assert signer.address.lower() not in response.json()["response"]


async def test_auto_fund_off_names_the_unknown_signer_exactly() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(auto_fund=False) as emu:
        await name(emu.url, signer)  # naming does not fund when auto-funding is off
        response = await post(emu.url, "/exchange", signed_body(signer, noop_action(), emu.now_ms()))
    assert response.json() == {
        "status": "err",
        "response": f"User or API Wallet {signer.address.lower()} does not exist.",
    }


async def test_auto_fund_any_accepts_a_signer_nobody_named() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(auto_fund=AutoFund.ANY) as emu:
        response = await post(emu.url, "/exchange",
                              signed_body(signer, update_leverage_action(0, True, 5), emu.now_ms()))
    assert response.json()["status"] == "ok"


async def test_explicit_fund_lets_an_unnamed_signer_act() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        emu.fund(signer.address)
        response = await post(emu.url, "/exchange",
                              signed_body(signer, update_leverage_action(0, True, 5), emu.now_ms()))
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("signature", [
    {"r": "0xzz", "s": "0x1", "v": 27},
    {"r": "0x1", "s": "0x1", "v": 29},
    {"r": "0x0", "s": "0x1", "v": 27},
    "not-a-signature",
    {"r": "0x1"},
])
async def test_unparseable_signature(signature: Any) -> None:
    async with open_emulator() as emu:
        body = exchange_body(noop_action(), emu.now_ms(), signature, None, None)
        response = await post(emu.url, "/exchange", body)
    assert response.json() == {"status": "err", "response": "Unable to recover signer."}


async def test_nonce_duplicate_too_low_and_window() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        base = emu.now_ms()
        first = await post(emu.url, "/exchange", signed_body(signer, noop_action(), base))
        duplicate = await post(emu.url, "/exchange", signed_body(signer, noop_action(), base))
        async with httpx.AsyncClient(base_url=emu.url) as client:
            for i in range(1, 101):
                answer = await client.post("/exchange", json=signed_body(signer, noop_action(), base + i))
                assert answer.json()["status"] == "ok", answer.text
        too_low = await post(emu.url, "/exchange", signed_body(signer, noop_action(), base - 5))
        stale = base - 3 * 24 * 3600 * 1000
        old = await post(emu.url, "/exchange", signed_body(signer, noop_action(), stale))
        future = base + 2 * 24 * 3600 * 1000
        ahead = await post(emu.url, "/exchange", signed_body(signer, noop_action(), future))
    assert first.json()["status"] == "ok"
    assert duplicate.json() == {"status": "err", "response": f"Invalid nonce: duplicate nonce {base}"}
    # 101 nonces stored, capacity 100: the floor is base + 1.
    assert too_low.json() == {"status": "err", "response": f"Invalid nonce: nonce too low {base - 5} < {base + 1}"}
    assert old.json() == {"status": "err", "response": f"Invalid nonce: nonce too far from current time {stale}"}
    assert ahead.json() == {"status": "err", "response": f"Invalid nonce: nonce too far from current time {future}"}


async def test_nonces_are_per_signer() -> None:
    one, two = LocalSigner.generate(), LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, one)
        await name(emu.url, two)
        nonce = emu.now_ms()
        a = await post(emu.url, "/exchange", signed_body(one, noop_action(), nonce))
        b = await post(emu.url, "/exchange", signed_body(two, noop_action(), nonce))
    assert a.json()["status"] == b.json()["status"] == "ok"


async def test_expired_action_is_rejected_and_a_live_one_accepted() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        now = emu.now_ms()
        expired = await post(emu.url, "/exchange",
                             signed_body(signer, noop_action(), now, expires_after=now - 1_000))
        live = await post(emu.url, "/exchange",
                          signed_body(signer, noop_action(), now + 1, expires_after=now + 60_000))
    assert expired.json()["status"] == "err"
    assert expired.json()["response"].startswith("Action already expired")
    assert live.json()["status"] == "ok"


async def test_user_signed_action_recovers_the_user() -> None:
    signer = LocalSigner.generate()
    async with open_emulator() as emu:
        await name(emu.url, signer)
        nonce = emu.now_ms()
        action = usd_class_transfer_action(Decimal("1.5"), False, nonce)
        signature = sign_user_action(signer, action, False)
        ok = await post(emu.url, "/exchange", exchange_body(action, nonce, signature, None, None))
        mismatch = usd_class_transfer_action(Decimal("1"), True, nonce + 5)
        bad_sig = sign_user_action(signer, mismatch, False)
        wrong_nonce = await post(emu.url, "/exchange", exchange_body(mismatch, nonce + 6, bad_sig, None, None))
    assert ok.json() == {"status": "ok", "response": {"type": "default"}}
    assert wrong_nonce.json()["status"] == "err"
    assert "does not match request nonce" in wrong_nonce.json()["response"]


async def test_ip_weight_limit_answers_429_and_refills(autojump_clock: trio.testing.MockClock) -> None:
    async with open_emulator(limits=Limits(rest_weight_per_minute=10)) as emu, \
            httpx.AsyncClient(base_url=emu.url) as client:
        statuses = [(await client.post("/info", json={"type": "allMids"})).status_code for _ in range(6)]
        limited = await client.post("/info", json={"type": "allMids"})
        other_ip = httpx.AsyncClient(base_url=emu.url, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
        async with other_ip:
            elsewhere = await other_ip.post("/info", json={"type": "allMids"})
        meta = await client.post("/info", json={"type": "meta"})  # weight 20 > capacity 10: never fits
        await trio.sleep(12)  # 10 per minute: 2 weight back after 12 s
        after = await client.post("/info", json={"type": "allMids"})
    assert statuses == [200] * 5 + [429]
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/plain")
    assert limited.text.startswith("Too many requests")
    assert elsewhere.status_code == 200
    assert meta.status_code == 429
    assert after.status_code == 200
    assert emu.statistics().rate_limited >= 3


def test_weights() -> None:
    assert info_base_weight("l2Book") == 2
    assert info_base_weight("userRole") == 60
    assert info_base_weight("meta") == 20
    assert info_extra_weight("userFills", [{}] * 45) == 2
    assert info_extra_weight("candleSnapshot", [{}] * 125) == 2
    assert info_extra_weight("openOrders", [{}] * 500) == 0
    assert exchange_weight({"type": "order", "orders": [{}] * 79}) == 2
    assert exchange_weight({"type": "cancel", "cancels": [{}] * 80}) == 3
    assert exchange_weight({"type": "noop"}) == 1


async def test_exchange_weight_counts_against_the_ip_budget() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(limits=Limits(rest_weight_per_minute=4)) as emu:
        emu.fund(signer.address)
        base = emu.now_ms()
        answers = [await post(emu.url, "/exchange", signed_body(signer, noop_action(), base + i)) for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
