"""Connector configuration: one frozen value, validated at construction.

Identity is the part people get wrong on Hyperliquid, so it is explicit here:

- ``signer`` (or ``private_key``) signs every action.  It is either the account's own key or an *agent*
  (API wallet) key approved by the account.
- ``account_address`` is the master account whose orders, fills and streams we follow.  It defaults to the
  signer's address; when an agent signs it must be given (an agent has no orders of its own).
- ``vault_address`` makes actions apply to a vault / sub-account the master controls; streams then follow
  the vault.

The private key is held in a :class:`~trio_hl.core.secret.Secret` (given as a plain hex ``str``, converted at
construction): ``repr``, ``str``, ``attrs.asdict`` and log lines show ``***``, pickling the config is refused,
and ``copy``/``attrs.evolve`` keep the key without showing it.  ``open_connector`` turns it into a
``LocalSigner`` once (``config.private_key.reveal()`` is the one deliberate way to read it).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs

from trio_hl.core.secret import Secret, optional_secret
from trio_hl.errors import ConfigError

__all__ = ["LOCAL_API_URL", "MAINNET_API_URL", "TESTNET_API_URL", "ConnectorConfig"]

MAINNET_API_URL = "https://api.hyperliquid.xyz"
TESTNET_API_URL = "https://api.hyperliquid-testnet.xyz"
LOCAL_API_URL = "http://localhost:3001"


def _is_address(value: str | None) -> bool:
    if value is None:
        return True
    if not (isinstance(value, str) and value.startswith("0x") and len(value) == 42):
        return False
    try:
        int(value[2:], 16)
    except ValueError:
        return False
    return True


@attrs.frozen(kw_only=True)
class ConnectorConfig:
    """Everything ``open_connector`` needs.  Only ``base_url`` and a key (or signer) are required."""

    base_url: str
    #: Hex private key (with or without 0x), given as a ``str`` and held as a :class:`Secret` (shown as ``***``
    #: everywhere, refuses to pickle).  Mutually exclusive with ``signer``.
    private_key: Secret | None = attrs.field(default=None, converter=optional_secret)
    #: Any object with ``.address`` and ``sign_digest(bytes) -> (r, s, v)`` (e.g. a remote/HSM signer).
    signer: object | None = attrs.field(default=None, repr=False)
    account_address: str | None = None
    vault_address: str | None = None
    #: Pairs to stream books for and trade: perps "BTC", builder dex "dex:COIN", spot "PURR/USDC".
    pairs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: None: decide like the official SDK (mainnet iff ``base_url`` is the mainnet URL).
    is_mainnet: bool | None = None
    #: SQLite journal; None keeps the journal in memory (no restart recovery).
    journal_path: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    #: Market orders: worst price = reference price × (1 ± slippage).
    market_slippage: Decimal = Decimal("0.05")
    #: Most orders (cancels, modifies) per signed action.  Only a queue that deep fills one: an order queued
    #: while the pipeline has room still goes at once, in a small action.  The venue weighs an action 1 + n // 40
    #: against the IP budget and counts n against the address budget, so one action of 199 costs 5 where five of
    #: 40 cost 10 - and one signature, one frame and one answer instead of five (sustained bursts: ~16% less CPU
    #: per order than 40).  40k - 1 orders is the most a weight of k buys.
    max_batch: int = 199
    #: Signed actions in flight at once.
    max_actions_in_flight: int = 8
    #: Send actions over the WebSocket ``post`` method (REST is the fallback either way).
    use_ws_post: bool = True
    request_timeout: float = 10.0
    #: Reconciler period; it polls faster when the user stream is stale.
    reconcile_interval: float = 5.0
    #: A stream with no frame for this long is considered stale (and is reconnected).
    stale_after: float = 30.0
    #: Buffer of each ``events()`` channel.  Order events are lossless: a full channel applies backpressure
    #: to the event pump (never to ``buy()``), and the backlog is visible in ``health()``.
    event_buffer: int = 10_000
    #: Capacity of the submit queue; ``buy()`` raises instead of blocking when it is full.
    submit_queue_size: int = 100_000
    #: ``orderStatus`` answers of "unknown order" before an order counts as lost.
    not_found_limit: int = 3
    #: Dead-man's switch: keep the venue's ``scheduleCancel`` at now + this many seconds while healthy, so a hung
    #: or partitioned process gets its orders cancelled by the venue.  None (default) leaves it off.
    dead_mans_switch_s: float | None = None
    #: After a restart, orders the journal proves never left the process (no write-ahead ``"sending"`` record) are
    #: FAILED with reason "never sent" (default), or - when True - sent now, as the user asked before the crash
    #: (limit orders only: a market order's price or a trigger's parameters are not journaled; those are FAILED).
    resend_unsent_on_restart: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if (self.private_key is None) == (self.signer is None):
            raise ConfigError("give exactly one of private_key or signer")
        for name in ("account_address", "vault_address"):
            if not _is_address(getattr(self, name)):
                raise ConfigError(f"{name} must be a 0x-prefixed 20-byte hex address, got {getattr(self, name)!r}")
        if self.max_batch < 1 or self.max_actions_in_flight < 1:
            raise ConfigError("max_batch and max_actions_in_flight must be >= 1")
        if not Decimal(0) <= self.market_slippage < Decimal(1):
            raise ConfigError(f"market_slippage must be in [0, 1), got {self.market_slippage}")

    @property
    def mainnet(self) -> bool:
        if self.is_mainnet is not None:
            return self.is_mainnet
        return self.base_url.rstrip("/") == MAINNET_API_URL

    @property
    def ws_url(self) -> str:
        """The SDK's rule: ``ws`` + base_url without ``http`` + ``/ws``."""
        return "ws" + self.base_url.rstrip("/")[len("http"):] + "/ws"
