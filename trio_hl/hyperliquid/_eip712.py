"""EIP-712 hashing for the few flat shapes Hyperliquid signs, compiled once per type.

Rule followed (EIP-712): ``hashStruct(s) = keccak(typeHash ‖ encodeData(s))`` where each atomic field is one
32-byte word (``string`` → ``keccak(utf8)``, ``address`` → left-padded 20 bytes, ``bool``/``uintN`` → big-endian
uint256, ``bytes32`` as is); ``digest = keccak(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))``.  Only
the atomic types Hyperliquid uses are supported (no nested structs, no arrays, no dynamic ``bytes``).

Rejected alternative: eth-account's ``encode_typed_data`` on every call.  It is general (nested types,
arrays, loose coercions) but re-parses the whole typed-data document each time and costs hundreds of
microseconds; here a type is compiled once into its type hash plus one encoder per field, and domain
separators are cached per chain id.  eth-account stays the reference the tests compare against.

Encoders are deliberately *strict* (a ``bool`` field takes only ``True``/``False``, a ``uint64`` only an
``int``): eth-account coerces ``"false"`` to ``False`` and numeric strings to ints, but the venue deserialises
typed JSON, so a loosely-typed value is a bug to report, not to paper over.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

__all__ = [
    "EIP712_DOMAIN_TYPE_HASH",
    "KECCAK_BACKEND",
    "ZERO_ADDRESS",
    "Eip712EncodingError",
    "StructType",
    "domain_separator",
    "hex_body",
    "keccak256",
    "keccak256_bytes",
    "typed_data_digest",
]


def _make_keccak() -> tuple[Callable[[bytes], bytes], str]:
    """The fastest exact Keccak-256 (not NIST SHA3-256) installed: tiny-keccak, else safe-pysha3, else
    pycryptodome (always there: eth-account needs it).

    tiny-keccak (a Rust one-shot ``keccak256(bytes) -> bytes``, abi3 wheels for every CPython >= 3.10) costs
    ~360 ns for a 120-byte input where safe-pysha3 costs ~570 ns and pycryptodome ~2 µs (CPU time, same box):
    safe-pysha3 builds a hash object, copies its state to finalise and wipes both byte by byte when freed, and
    pycryptodome adds a Python-level object.  A signed order hashes three times, a recovered one four."""
    try:
        from tiny_keccak import keccak256 as one_shot
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    else:
        return one_shot, "tiny-keccak"
    try:
        from sha3 import keccak_256
    except ImportError:
        from Crypto.Hash import keccak as _keccak

        def _pycryptodome(data: bytes) -> bytes:
            return bytes(_keccak.new(digest_bits=256, data=data).digest())

        return _pycryptodome, "pycryptodome"

    def _pysha3(data: bytes) -> bytes:
        digest: bytes = keccak_256(data).digest()
        return digest

    return _pysha3, "safe-pysha3"


_keccak256, KECCAK_BACKEND = _make_keccak()
"""The Keccak-256 function in use and the name of the package providing it."""


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash; not NIST SHA3-256) of ``bytes`` (or any bytes-like object)."""
    return _keccak256(data if type(data) is bytes else bytes(data))


keccak256_bytes: Final[Callable[[bytes], bytes]] = _keccak256
""":func:`keccak256` without the argument check, for hot paths that always hold ``bytes`` (the one-shot C
function itself when tiny-keccak is installed: no Python frame per hash)."""


ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"

EIP712_DOMAIN_TYPE_HASH: Final = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)

_UINT256_MAX: Final = (1 << 256) - 1


class Eip712EncodingError(ValueError):
    """A message value does not fit its declared EIP-712 field type (or is missing)."""


_HEX_DIGITS: Final = re.compile(r"[0-9a-fA-F]+")


def hex_body(value: Any, *, require_prefix: bool = True) -> str | None:
    """The hex digits of ``"0x…"`` (or of bare hex when ``require_prefix`` is false), or ``None`` if ``value``
    is not such a string.  Stricter than ``int(x, 16)``/``bytes.fromhex``, which accept whitespace and ``_``."""
    if not isinstance(value, str):
        return None
    if value[:2] in ("0x", "0X"):
        body = value[2:]
    elif require_prefix:
        return None
    else:
        body = value
    return body if _HEX_DIGITS.fullmatch(body) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _address_bytes(value: Any) -> bytes:
    if isinstance(value, bytes) and len(value) == 20:
        return value
    body = hex_body(value)
    if body is not None and len(body) == 40:
        return bytes.fromhex(body)
    raise ValueError("expected a 0x-prefixed 20-byte hex address")


#: Hashes of the strings every user-signed action carries (``hyperliquidChain``) or often carries (an empty
#: ``agentName``): one dict probe instead of a keccak on each signature and each verification.
_KNOWN_STRING_HASHES: Final = {s: _keccak256(s.encode()) for s in ("Mainnet", "Testnet", "")}


def _encode_string(value: Any) -> bytes:
    if type(value) is str:
        known = _KNOWN_STRING_HASHES.get(value)
        if known is not None:
            return known
    elif not isinstance(value, str):
        raise ValueError("expected a str")
    return _keccak256(value.encode())


def _encode_address(value: Any) -> bytes:
    return b"\x00" * 12 + _address_bytes(value)


def _encode_bool(value: Any) -> bytes:
    if value is True:
        return b"\x00" * 31 + b"\x01"
    if value is False:
        return b"\x00" * 32
    raise ValueError("expected a bool")


def _uint_encoder(bits: int) -> Callable[[Any], bytes]:
    limit = 1 << bits

    def encode(value: Any) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
            raise ValueError(f"expected an int in [0, 2**{bits})")
        return value.to_bytes(32, "big")

    return encode


def _encode_bytes32(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    body = hex_body(value)
    if body is not None and len(body) == 64:
        return bytes.fromhex(body)
    raise ValueError("expected 32 bytes or a 0x-prefixed 64-digit hex string")


_ENCODERS: Final[Mapping[str, Callable[[Any], bytes]]] = {
    "string": _encode_string,
    "address": _encode_address,
    "bool": _encode_bool,
    "bytes32": _encode_bytes32,
    **{f"uint{bits}": _uint_encoder(bits) for bits in range(8, 257, 8)},
}


@attrs.frozen
class StructType:
    """A flat EIP-712 struct type, compiled: ``StructType.from_fields("Agent", [("source", "string"), ...])``."""

    name: str
    fields: tuple[tuple[str, str], ...]
    type_hash: bytes = attrs.field(repr=False)
    _encoders: tuple[tuple[str, Callable[[Any], bytes]], ...] = attrs.field(repr=False, eq=False, alias="encoders")

    @classmethod
    def from_fields(cls, name: str, fields: Sequence[tuple[str, str]]) -> StructType:
        """Compile ``name(type1 name1,...)``; raises ``Eip712EncodingError`` for an unsupported field type."""
        fields = tuple((str(fname), str(ftype)) for fname, ftype in fields)
        encoders = []
        for fname, ftype in fields:
            encoder = _ENCODERS.get(ftype)
            if encoder is None:
                raise Eip712EncodingError(f"field {fname!r}: unsupported EIP-712 type {ftype!r}")
            encoders.append((fname, encoder))
        return cls(
            name=name,
            fields=fields,
            type_hash=keccak256(cls._encode_type(name, fields).encode()),
            encoders=tuple(encoders),
        )

    @classmethod
    def from_payload_types(cls, name: str, payload_types: Sequence[Mapping[str, str]]) -> StructType:
        """Compile from the SDK/eth-account shape ``[{"name": ..., "type": ...}, ...]``."""
        try:
            fields = [(entry["name"], entry["type"]) for entry in payload_types]
        except (KeyError, TypeError) as exc:
            raise Eip712EncodingError("payload types must be a list of {'name': str, 'type': str} dicts") from exc
        return cls.from_fields(name, fields)

    @staticmethod
    def _encode_type(name: str, fields: Sequence[tuple[str, str]]) -> str:
        return f"{name}({','.join(f'{ftype} {fname}' for fname, ftype in fields)})"

    @property
    def encoded_type(self) -> str:
        """The EIP-712 ``encodeType`` string, e.g. ``Agent(string source,bytes32 connectionId)``."""
        return self._encode_type(self.name, self.fields)

    def hash_struct(self, message: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> bytes:
        """``hashStruct(message)``; keys of ``message`` not in the type are ignored (as EIP-712 says).

        ``defaults`` supplies values for fields missing from ``message`` (the venue treats an absent
        ``agentName`` as ``""``)."""
        parts = [self.type_hash]
        for fname, encoder in self._encoders:
            try:
                value = message[fname]
            except KeyError:
                if defaults is None or fname not in defaults:
                    raise Eip712EncodingError(f"{self.name}: missing field {fname!r}") from None
                value = defaults[fname]
            except TypeError as exc:
                raise Eip712EncodingError(f"{self.name}: message must be a mapping") from exc
            try:
                parts.append(encoder(value))
            except ValueError as exc:
                raise Eip712EncodingError(f"{self.name}.{fname}: {exc}, got {_short(value)}") from None
        return _keccak256(b"".join(parts))


@functools.lru_cache(maxsize=64)
def domain_separator(name: str, version: str, chain_id: int, verifying_contract: str = ZERO_ADDRESS) -> bytes:
    """EIP-712 domain separator for the four-field domain Hyperliquid uses (cached per argument tuple)."""
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or not 0 <= chain_id <= _UINT256_MAX:
        raise Eip712EncodingError(f"chainId must be a uint256, got {_short(chain_id)}")
    try:
        contract = _encode_address(verifying_contract)
    except ValueError as exc:
        raise Eip712EncodingError(f"verifyingContract: {exc}, got {_short(verifying_contract)}") from None
    return keccak256(
        EIP712_DOMAIN_TYPE_HASH
        + keccak256(name.encode())
        + keccak256(version.encode())
        + chain_id.to_bytes(32, "big")
        + contract
    )


def typed_data_digest(separator: bytes, struct_hash: bytes) -> bytes:
    """The 32 bytes a wallet signs: ``keccak(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))``."""
    return keccak256(b"\x19\x01" + separator + struct_hash)
