"""REST transport: ``POST /info`` and ``POST /exchange`` over one ``httpx.AsyncClient`` (Trio via anyio).

The rule this module follows is *one translation point*: :meth:`_Endpoint.request` is the only place where
httpx exceptions and HTTP statuses become :mod:`trio_hl.errors`, and the split it makes is the one the order
tracker depends on — **did the request possibly reach the venue?**

===============================================  =======================  ==================================
What happened                                    ``/info`` (idempotent)   ``/exchange`` (an action)
===============================================  =======================  ==================================
could not connect / pool timeout / bad URL       ``TransportError``       ``TransportError`` (nothing left)
timeout or broken connection after sending       ``TransportError``       ``AmbiguousOutcomeError``
HTTP 429                                         ``RateLimitedError``     ``RateLimitedError``
HTTP 5xx                                         ``ServerError``          ``AmbiguousOutcomeError`` (cause:
                                                                          ``ServerError``)
HTTP 4xx (e.g. 422 plain text)                   ``VenueRejectedError``   ``VenueRejectedError``
HTTP 200, not JSON (or not the promised shape)   ``ProtocolError``        ``ProtocolError``
HTTP 200 ``{"status":"err","response":…}``       data                     data (the caller classifies it)
===============================================  =======================  ==================================

Why a 5xx on ``/exchange`` is ambiguous: the 5xx comes from whatever answered last — a load balancer or proxy
in front of the API node, or the node itself after it forwarded the signed transaction to consensus.  A gateway
timeout (502/504) in particular is typically produced *after* the backend received the request.  Nothing in a
5xx promises the action was not applied, and a signed action with a fresh nonce stays valid, so treating it as
"failed" could double an order on retry.  The tracker resolves it (orderStatus by cloid, then a same-nonce noop).

Why 429 is *not* ambiguous: the venue rejects over-budget requests in its rate limiter, before execution, and
says so with the status; it also tells us to slow down, so :meth:`IpRateLimiter.penalize` blocks every task.

Retries: info requests are idempotent, so transient failures (``TransportError`` and its 429/5xx subclasses)
are retried with full-jitter backoff, a bounded number of times.  Actions are **never** retried here — a blind
retry of a maybe-landed action is how duplicate orders happen; the submit worker decides with the tracker.

Every attempt first debits the shared :class:`IpRateLimiter`; info answers that carry per-item weight are charged
after the response.  Rejected alternative: letting httpx raise and translating in each caller — that scatters the
"was it sent?" judgement across the connector, where it would eventually be made inconsistently.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self

import attrs
import httpx

from trio_hl.core import safejson
from trio_hl.errors import (
    AmbiguousOutcomeError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
    VenueRejectedError,
)
from trio_hl.hyperliquid._info_typed import TypedInfoMixin
from trio_hl.hyperliquid.backoff import Backoff, BackoffPolicy
from trio_hl.hyperliquid.fill_keys import FillDeduper
from trio_hl.hyperliquid.ratelimit import IpRateLimiter, exchange_weight, info_extra_weight, info_weight

__all__ = [
    "DEFAULT_TIMEOUT",
    "ExchangeClient",
    "InfoClient",
    "RestClients",
    "RetryPolicy",
    "action_batch_length",
    "open_rest_clients",
]

logger = logging.getLogger(__name__)

#: Explicit timeouts (seconds).  Connect and pool are short: failing fast there is safe (nothing was sent).
#: Read is longer than a block or two so a slow but successful action is not needlessly made ambiguous.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)

#: httpx errors raised before any byte of the request could have left the process.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.InvalidURL,
)

#: The smallest page size the docs give for time-range answers (500; some types allow 2000).  A page shorter
#: than this is certainly the last one; a longer one may or may not be.
_MIN_PAGE = 500


def action_batch_length(action: Mapping[str, Any]) -> int:
    """How many orders/cancels/modifies an action carries (the ``n`` of the IP weight ``1 + n // 40``)."""
    for key in ("orders", "cancels", "modifies"):
        items = action.get(key)
        if isinstance(items, list):
            return len(items)
    return 0


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class _Endpoint:
    """One path on the shared client; owns the error translation for it."""

    def __init__(self, http: httpx.AsyncClient, path: str, limiter: IpRateLimiter, *, is_action: bool) -> None:
        self._http = http
        self._path = path
        self._limiter = limiter
        self._is_action = is_action

    async def request(self, body: Mapping[str, Any], weight: int) -> Any:
        """POST ``body``; return the parsed JSON of a 200 or raise a :mod:`trio_hl.errors` exception."""
        content = json.dumps(body, separators=(",", ":")).encode()
        await self._limiter.acquire(weight)
        try:
            response = await self._http.post(self._path, content=content, headers={"Content-Type": "application/json"})
        except _NOT_SENT as exc:
            raise TransportError(f"POST {self._path}: request not sent ({type(exc).__name__}: {exc})") from exc
        except httpx.TransportError as exc:
            # Read/write timeouts, resets, a peer closing mid-answer: the request may have been received.
            if self._is_action:
                raise AmbiguousOutcomeError(
                    f"POST {self._path}: no answer after sending ({type(exc).__name__}: {exc}); "
                    "the action may have been applied"
                ) from exc
            raise TransportError(f"POST {self._path}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        text = response.text
        if status == 429:
            self._limiter.penalize()
            raise RateLimitedError(f"POST {self._path}: HTTP 429 {_short(text)}")
        if status >= 500:
            server_error = ServerError(status, text)
            if self._is_action:
                raise AmbiguousOutcomeError(
                    f"POST {self._path}: HTTP {status}; the action may have been applied"
                ) from server_error
            raise server_error
        if status >= 400:
            raise VenueRejectedError(f"HTTP {status}: {_short(text)}")
        if status != 200:
            raise ProtocolError(f"POST {self._path}: unexpected HTTP {status}: {_short(text)}")
        self._limiter.note_success()
        try:
            return safejson.loads(text)
        except ValueError as exc:
            raise ProtocolError(f"POST {self._path}: HTTP 200 with non-JSON body: {_short(text)!r}") from exc


@attrs.frozen
class RetryPolicy:
    """How info requests retry transient failures: at most ``attempts`` tries, ``backoff`` between them."""

    attempts: int = 4
    backoff: BackoffPolicy = attrs.field(factory=BackoffPolicy)

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")


def _make_http(base_url: str, transport: httpx.AsyncBaseTransport | None, timeouts: httpx.Timeout) -> httpx.AsyncClient:
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport, timeout=timeouts)


class _Client:
    """Shared constructor logic: either borrow an ``httpx.AsyncClient`` or create (and own) one."""

    def __init__(
        self,
        base_url: str | None,
        *,
        http: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
        limiter: IpRateLimiter | None,
        timeouts: httpx.Timeout,
    ) -> None:
        if http is None:
            if base_url is None:
                raise ValueError("either base_url or http must be given")
            http = _make_http(base_url, transport, timeouts)
            self._owns_http = True
        else:
            self._owns_http = False
        self._http = http
        self.limiter = limiter if limiter is not None else IpRateLimiter()

    async def aclose(self) -> None:
        """Close the underlying client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class InfoClient(TypedInfoMixin, _Client):
    """``POST /info``: read-only, idempotent queries, retried on transient failures.

    The typed queries (``candle_snapshot``, ``user_funding``, ``portfolio``, …: one per ``/info`` type of the
    official SDK that has no raw method below) come from :class:`~trio_hl.hyperliquid._info_typed.TypedInfoMixin`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: IpRateLimiter | None = None,
        timeouts: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(base_url, http=http, transport=transport, limiter=limiter, timeouts=timeouts)
        self._endpoint = _Endpoint(self._http, "/info", self.limiter, is_action=False)
        self.retry = retry if retry is not None else RetryPolicy()
        self._rng = rng if rng is not None else random.Random()
        self.retries = 0  # transient failures retried, for statistics
        #: Fills ``user_fills_by_time`` kept although another fill had their key (see ``fill_keys``).
        self.fill_collisions = 0

    async def post(self, req: Mapping[str, Any]) -> Any:
        """Send one info request (``{"type": …, …}``) and return the parsed JSON answer.

        Retries ``TransportError`` (connect failures, timeouts, 429, 5xx) up to ``retry.attempts`` tries with
        full-jitter backoff; the last error propagates.  ``VenueRejectedError`` (e.g. HTTP 422 for a malformed
        request) and ``ProtocolError`` are not retried: repeating them cannot help.
        """
        request_type = req.get("type")
        if not isinstance(request_type, str):
            raise ValueError(f"req must have a string 'type', got {req!r}")
        backoff = Backoff(self.retry.backoff, rng=self._rng)
        while True:
            try:
                answer = await self._endpoint.request(req, info_weight(request_type))
            except TransportError:
                if backoff.attempt + 1 >= self.retry.attempts:
                    raise
                self.retries += 1
                await backoff.wait()
                continue
            if isinstance(answer, list):
                self.limiter.charge(info_extra_weight(request_type, len(answer)))
            return answer

    async def _post_dict(self, req: Mapping[str, Any]) -> dict[str, Any]:
        answer = await self.post(req)
        if not isinstance(answer, dict):
            raise ProtocolError(f"info {req.get('type')!r}: expected a JSON object, got {_short(repr(answer))}")
        return answer

    async def _post_list(self, req: Mapping[str, Any]) -> list[Any]:
        answer = await self.post(req)
        if not isinstance(answer, list):
            raise ProtocolError(f"info {req.get('type')!r}: expected a JSON array, got {_short(repr(answer))}")
        return answer

    # -- typed conveniences (request bodies exactly as the official SDK sends them, PROTOCOL §5) ------------

    async def meta(self, dex: str = "") -> dict[str, Any]:
        return await self._post_dict({"type": "meta", "dex": dex})

    async def spot_meta(self) -> dict[str, Any]:
        return await self._post_dict({"type": "spotMeta"})

    async def perp_dexs(self) -> list[Any]:
        return await self._post_list({"type": "perpDexs"})

    async def l2_book(self, coin: str, *, n_sig_figs: int | None = None, mantissa: int | None = None) -> dict[str, Any]:
        req: dict[str, Any] = {"type": "l2Book", "coin": coin}
        if n_sig_figs is not None:
            req["nSigFigs"] = n_sig_figs
        if mantissa is not None:
            req["mantissa"] = mantissa
        return await self._post_dict(req)

    async def all_mids(self, dex: str = "") -> dict[str, Any]:
        return await self._post_dict({"type": "allMids", "dex": dex})

    async def open_orders(self, user: str, dex: str = "") -> list[Any]:
        return await self._post_list({"type": "openOrders", "user": user, "dex": dex})

    async def frontend_open_orders(self, user: str, dex: str = "") -> list[Any]:
        return await self._post_list({"type": "frontendOpenOrders", "user": user, "dex": dex})

    async def order_status(self, user: str, oid_or_cloid: int | str) -> dict[str, Any]:
        """``orderStatus`` by oid (int) or cloid (``"0x"`` + 32 hex); answers ``{"status":"unknownOid"}`` if unknown."""
        if isinstance(oid_or_cloid, bool) or not isinstance(oid_or_cloid, int | str):
            raise ValueError(f"oid_or_cloid must be an int oid or a 0x cloid string, got {oid_or_cloid!r}")
        if isinstance(oid_or_cloid, str) and not (oid_or_cloid.startswith("0x") and len(oid_or_cloid) == 34):
            raise ValueError(f"cloid must be '0x' followed by 32 hex digits, got {oid_or_cloid!r}")
        return await self._post_dict({"type": "orderStatus", "user": user, "oid": oid_or_cloid})

    async def clearinghouse_state(self, user: str, dex: str = "") -> dict[str, Any]:
        return await self._post_dict({"type": "clearinghouseState", "user": user, "dex": dex})

    async def spot_clearinghouse_state(self, user: str) -> dict[str, Any]:
        return await self._post_dict({"type": "spotClearinghouseState", "user": user})

    async def user_rate_limit(self, user: str) -> dict[str, Any]:
        return await self._post_dict({"type": "userRateLimit", "user": user})

    async def historical_orders(self, user: str) -> list[Any]:
        return await self._post_list({"type": "historicalOrders", "user": user})

    async def user_fills(self, user: str) -> list[Any]:
        return await self._post_list({"type": "userFills", "user": user})

    async def user_fills_by_time(
        self,
        user: str,
        start_ms: int,
        end_ms: int | None = None,
        *,
        aggregate_by_time: bool = False,
        max_pages: int = 50,
    ) -> list[dict[str, Any]]:
        """Every fill of ``user`` with ``start_ms <= time (<= end_ms)``, oldest first, across pages.

        The venue answers at most 500 (or 2000) fills per call, and which end of a larger window it keeps is not
        documented: the official SDK's recorded 500-fill answer is the window's *newest* fills, newest first
        (its first fill is at the requested ``endTime``), while a reader of the docs expects the oldest.  So a
        full page is never taken to cover one end: the fills it lacks lie at or before its oldest fill or at or
        after its newest, and both sub-windows are asked (bounds inclusive - several fills can share a
        millisecond and a page may end in the middle of them).  A page shorter than the smallest documented page
        size holds the whole of its window.  The fills read twice are removed
        (:class:`~trio_hl.hyperliquid.fill_keys.FillDeduper`: key (time, coin, tid, side), a derived tid for
        fills without one).  A fill that shares a key with one of another size, price or oid is *kept*, logged,
        and counted in ``fill_collisions`` (the tracker then reports it as an
        ``OrderAnomaly(kind="fill_collision")``).  A full page with nothing new (more fills in one millisecond
        than a page holds) cannot be paged further: logged, and that window is left.  ``max_pages`` bounds the
        requests (the venue serves only the 10 000 most recent fills); exceeding it raises ``ProtocolError``
        rather than silently truncating a gap-fill.
        """
        if start_ms < 0 or (end_ms is not None and end_ms < start_ms):
            raise ValueError(f"need 0 <= start_ms <= end_ms, got start_ms={start_ms} end_ms={end_ms}")
        dedup = FillDeduper()
        windows: list[tuple[int, int | None]] = [(start_ms, end_ms)]
        for _ in range(max_pages):
            if not windows:
                fills = dedup.fills
                fills.sort(key=lambda f: f["time"])
                return fills
            low, high = windows.pop()
            page = await self._post_list(
                {
                    "type": "userFillsByTime",
                    "user": user,
                    "startTime": low,
                    "endTime": high,
                    "aggregateByTime": aggregate_by_time,
                }
            )
            added = 0
            for fill in page:
                if not isinstance(fill, dict) or not isinstance(fill.get("time"), int):
                    raise ProtocolError(f"userFillsByTime: malformed fill {_short(repr(fill))}")
                collisions = len(dedup.collisions)
                if dedup.add(fill):
                    added += 1
                if len(dedup.collisions) > collisions:
                    self.fill_collisions += 1
                    logger.warning("userFillsByTime %s: %s", user, dedup.collisions[-1].describe())
            if len(page) < _MIN_PAGE:
                continue  # the whole window
            if added == 0:
                logger.warning("userFillsByTime %s: a full page of %d fills in [%s, %s] adds nothing new (more "
                               "fills in one millisecond than a page holds); that window is not paged further",
                               user, len(page), low, high)
                continue
            times = [fill["time"] for fill in page]
            oldest, newest = min(times), max(times)
            windows.append((low, oldest))  # what a newest-first page left out
            windows.append((newest, high))  # what an oldest-first page left out
        if not windows:
            fills = dedup.fills
            fills.sort(key=lambda f: f["time"])
            return fills
        raise ProtocolError(f"userFillsByTime: more than {max_pages} pages since {start_ms}; refusing to truncate")


class ExchangeClient(_Client):
    """``POST /exchange``: sends an already-signed action body.  Never retries (see the module docstring)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: IpRateLimiter | None = None,
        timeouts: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(base_url, http=http, transport=transport, limiter=limiter, timeouts=timeouts)
        self._endpoint = _Endpoint(self._http, "/exchange", self.limiter, is_action=True)

    async def post_action(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``{"action", "nonce", "signature", "vaultAddress", "expiresAfter"}``; return the venue envelope.

        Returns ``{"status": "ok", …}`` *and* ``{"status": "err", "response": "<message>"}`` as data — the caller
        classifies venue messages (``trio_hl.hyperliquid.statuses``).  Raises ``TransportError`` (not sent: safe
        to retry with the same nonce), ``AmbiguousOutcomeError`` (possibly applied), ``RateLimitedError``,
        ``VenueRejectedError`` (4xx), ``ProtocolError`` (unparseable 200).
        """
        action = body.get("action")
        if not isinstance(action, Mapping):
            raise ValueError(f"body must contain an 'action' object, got keys {sorted(body)}")
        answer = await self._endpoint.request(body, exchange_weight(action_batch_length(action)))
        if not isinstance(answer, dict) or "status" not in answer:
            raise ProtocolError(f"/exchange: expected a status envelope, got {_short(repr(answer))}")
        return answer


@attrs.frozen
class RestClients:
    """The pair the connector uses, sharing one ``httpx.AsyncClient`` and one :class:`IpRateLimiter`."""

    info: InfoClient
    exchange: ExchangeClient
    limiter: IpRateLimiter


@asynccontextmanager
async def open_rest_clients(
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limiter: IpRateLimiter | None = None,
    timeouts: httpx.Timeout = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[RestClients]:
    """Open one HTTP client (connection pool) for both endpoints; closed when the block exits."""
    limiter = limiter if limiter is not None else IpRateLimiter(rng=rng)
    async with _make_http(base_url, transport, timeouts) as http:
        yield RestClients(
            info=InfoClient(http=http, limiter=limiter, timeouts=timeouts, retry=retry, rng=rng),
            exchange=ExchangeClient(http=http, limiter=limiter, timeouts=timeouts),
            limiter=limiter,
        )
