"""Signing: PROTOCOL §1-§2 constants, the §1.1 preimage, and equality with eth-account (the SDK's engine).

eth-account's ``encode_typed_data`` + ``Account.sign_message`` is exactly what the SDK calls, so equal digests and
signatures here mean equal output to the SDK; ``tests/sdk_compat`` checks the SDK itself in its own venv.
"""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import msgpack
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as ref_keccak
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.errors import ConfigError, InvalidOrderError, ProtocolError
from trio_hl.hyperliquid import signing as S
from trio_hl.hyperliquid._eip712 import (
    EIP712_DOMAIN_TYPE_HASH,
    StructType,
    domain_separator,
    keccak256,
    typed_data_digest,
)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = "0x" + "4f" * 32
SIGNER = S.LocalSigner(KEY)
ACCOUNT = Account.from_key(KEY)
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ZERO = "0x0000000000000000000000000000000000000000"


# ------------------------------------------------------------------------------ reference (SDK-equivalent) code


def ref_action_hash(action: Any, vault: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The SDK's algorithm, written against eth_utils' keccak (independent of our keccak)."""
    data = msgpack.packb(action) + nonce.to_bytes(8, "big")
    data += b"\x00" if vault is None else b"\x01" + bytes.fromhex(vault[2:])
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return bytes(ref_keccak(data))


def ref_l1_payload(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    return {
        "domain": {"chainId": 1337, "name": "Exchange", "verifyingContract": ZERO, "version": "1"},
        "types": {
            "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
            "EIP712Domain": DOMAIN_FIELDS,
        },
        "primaryType": "Agent",
        "message": {"source": "a" if is_mainnet else "b", "connectionId": connection_id},
    }


def ref_user_payload(action: dict[str, Any], payload_types: list[dict[str, str]], primary: str) -> dict[str, Any]:
    return {
        "domain": {
            "name": "HyperliquidSignTransaction",
            "version": "1",
            "chainId": int(action["signatureChainId"], 16),
            "verifyingContract": ZERO,
        },
        "types": {primary: payload_types, "EIP712Domain": DOMAIN_FIELDS},
        "primaryType": primary,
        "message": action,
    }


def ref_sign(payload: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    signed = ACCOUNT.sign_message(encode_typed_data(full_message=payload))
    return bytes(signed.message_hash), {"r": hex(signed.r), "s": hex(signed.s), "v": signed.v}


# ----------------------------------------------------------------------------------------------- strategies

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
mixed_case_addresses = addresses.map(S.to_checksum_address)
uint64 = st.integers(0, 2**64 - 1)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
actions = st.fixed_dictionaries(
    {"type": st.sampled_from(["order", "cancel", "noop", "scheduleCancel", "updateLeverage"])},
    optional={"a": json_values, "orders": json_values, "grouping": json_values, "time": uint64},
)


# ------------------------------------------------------------------------------------- PROTOCOL §1.3/§2 constants


def test_l1_constants() -> None:
    assert EIP712_DOMAIN_TYPE_HASH.hex() == "8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"
    assert S.L1_DOMAIN_SEPARATOR.hex() == "d79297fcdf2ffcd4ae223d01edaa2ba214ff8f401d7c9300d995d17c82aa4040"
    assert S.AGENT_TYPE.type_hash.hex() == "26f05c2f7239b6983075e58321292d77b3aa173d19b27257ac96ab362570f508"
    assert S.AGENT_TYPE.encoded_type == "Agent(string source,bytes32 connectionId)"


def test_user_signed_domain_separators() -> None:
    assert (
        domain_separator("HyperliquidSignTransaction", "1", 421614).hex()
        == "feb1393ca4412a4ca577bd51d04f0a77033514c602f4d0a11490fb95f7428df6"
    )
    assert (
        domain_separator("HyperliquidSignTransaction", "1", 42161).hex()
        == "2f54e643b38c9c2b65cb731aaf11c54f01705ee0cdf45aea16e2ac0a5ce7531a"
    )


TYPE_HASHES = {
    "UsdSend": "c7410964737e2180e258d649f23f74a49460432fecbd94688103ecc63fb66b4c",
    "SpotSend": "d6d9472f429b5debb4cc4702fa9925e621498472a979f2581553dd007e273983",
    "Withdraw": "dbde952fa0de88158fc71336e44c61876611a2a65553bebd4d52b44a2a000d9a",
    "UsdClassTransfer": "7a3eebb1997d2e459472886f8cf9829a79b1b00c72a06c9fe015c91299aecd43",
    "SendAsset": "5f7cf397b977b076f0fbb993badfc7dd11bd71461a3d076c0940eff5f91ac849",
    "TokenDelegate": "92b330ec2490ea5985392c914fbd03684ac4860d6423151a947ad3022c58270b",
    "ApproveAgent": "4464abf6148f115d79362d98320081aa2ae8a5c840083cb65820bffc21394378",
    "ApproveBuilderFee": "461684eab6dcdfdd79c6250648d41a1abe3c826ceab6c513fc4f30156f233ad3",
    "UserDexAbstraction": "feed9f6a65f7ac1a3a08d55f10e7a14a9e8287266757c9d353ff995ca29da88e",
    "UserSetAbstraction": "7275fcf11c2aeeb00370bdc44e472f2b54989a0c88bd1605dbee01a0ba9a0a8b",
    "ConvertToMultiSigUser": "4d0883518f17b75d0cf7deec7f0a235936fe6c6b4e3719542068d3c4bca6fbe4",
    "SendMultiSig": "550fbfa3eb8691c744dccee20fce8ca1bd0f0fb319fdbde7fc68dd16bde14214",
}
ALL_USER_TYPES = [*S.USER_SIGNED_ACTION_TYPES.values(), S.SEND_MULTI_SIG]


@pytest.mark.parametrize("kind", ALL_USER_TYPES, ids=lambda k: k.primary_type)
def test_user_signed_type_hashes(kind: S.UserSignedActionType) -> None:
    short = kind.primary_type.removeprefix("HyperliquidTransaction:")
    assert kind.struct.type_hash.hex() == TYPE_HASHES[short]
    assert kind.fields[0] == ("hyperliquidChain", "string")


def test_type_table_covers_protocol_2_2() -> None:
    assert set(S.USER_SIGNED_ACTION_TYPES) == {
        "usdSend",
        "spotSend",
        "withdraw3",
        "usdClassTransfer",
        "sendAsset",
        "approveAgent",
        "approveBuilderFee",
        "tokenDelegate",
        "userDexAbstraction",
        "userSetAbstraction",
        "convertToMultiSigUser",
    }
    assert S.APPROVE_AGENT.payload_types == [
        {"name": "hyperliquidChain", "type": "string"},
        {"name": "agentAddress", "type": "address"},
        {"name": "agentName", "type": "string"},
        {"name": "nonce", "type": "uint64"},
    ]


def test_keccak_is_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


# ------------------------------------------------------------------------------------------- §1.1 preimage


def test_protocol_preimage_example() -> None:
    action = {"type": "dummy", "num": 100000000000}
    vault = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
    expected = bytes.fromhex(
        "82a474797065a564756d6d79a36e756dcf000000174876e800"
        "0000000000000000"
        "01" + "1719884eb866cb12b2287399b15f7db5e7d775ea" + "00" + "0000018bcfe56800"
    )
    assert S.action_preimage(action, vault, 0, 1700000000000) == expected
    assert S.action_hash(action, vault, 0, 1700000000000) == bytes(ref_keccak(expected))
    # Vault bytes are raw, so the address's case does not matter.
    assert S.action_hash(action, S.to_checksum_address(vault), 0, 1700000000000) == S.action_hash(
        action, vault, 0, 1700000000000
    )


def test_preimage_without_vault_and_expiry() -> None:
    assert S.action_preimage({"type": "noop"}, None, 7, None) == msgpack.packb({"type": "noop"}) + (
        b"\x00" * 7 + b"\x07" + b"\x00"
    )


def test_key_order_changes_the_hash() -> None:
    a = S.action_hash({"type": "cancel", "cancels": []}, None, 1, None)
    b = S.action_hash({"cancels": [], "type": "cancel"}, None, 1, None)
    assert a != b


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"nonce": -1}, "nonce"),
        ({"nonce": 2**64}, "nonce"),
        ({"nonce": True}, "nonce"),
        ({"expires_after": -5}, "expires_after"),
        ({"vault_address": "0x1234"}, "vault_address"),
        ({"vault_address": "0x" + "zz" * 20}, "vault_address"),
        ({"vault_address": "0x" + "ab " * 13 + "a"}, "vault_address"),
        ({"vault_address": 12}, "vault_address"),
        ({"action": {"type": object()}}, "msgpack"),
        ({"action": {"n": 2**70}}, "msgpack"),
        ({"action": {"n": -(2**63) - 1}}, "msgpack"),
        ({"action": {"b": 1j}}, "msgpack"),
    ],
)
def test_bad_signing_arguments_raise_invalid_order(kwargs: dict[str, Any], fragment: str) -> None:
    args: dict[str, Any] = {"action": {"type": "noop"}, "vault_address": None, "nonce": 1, "expires_after": None}
    args.update(kwargs)
    with pytest.raises(InvalidOrderError, match=fragment):
        S.sign_l1_action(SIGNER, is_mainnet=False, **args)


# -------------------------------------------------------------------------------- L1 equality with eth-account


@given(
    action=actions,
    vault=st.none() | addresses | mixed_case_addresses,
    nonce=uint64,
    expires_after=st.none() | uint64,
    is_mainnet=st.booleans(),
)
def test_l1_signature_equals_eth_account(
    action: dict[str, Any], vault: str | None, nonce: int, expires_after: int | None, is_mainnet: bool
) -> None:
    connection_id = S.action_hash(action, vault, nonce, expires_after)
    assert connection_id == ref_action_hash(action, vault, nonce, expires_after)
    ref_digest, ref_sig = ref_sign(ref_l1_payload(connection_id, is_mainnet))
    assert S.l1_digest(action, vault, nonce, expires_after, is_mainnet) == ref_digest
    ours = S.sign_l1_action(SIGNER, action, vault, nonce, expires_after, is_mainnet)
    assert ours == ref_sig
    assert list(ours) == ["r", "s", "v"]
    assert S.recover_l1_signer(action, vault, nonce, expires_after, is_mainnet, ours) == SIGNER.address
    # The other network's signer is someone else: mainnet/testnet are not interchangeable.
    assert S.recover_l1_signer(action, vault, nonce, expires_after, not is_mainnet, ours) != SIGNER.address


def test_l1_typed_data_is_the_sdk_payload() -> None:
    action = {"type": "noop"}
    doc = S.l1_typed_data(action, None, 5, None, True)
    expected = ref_l1_payload(S.action_hash(action, None, 5, None), True)
    expected["message"]["connectionId"] = "0x" + expected["message"]["connectionId"].hex()
    assert doc == expected
    assert S.construct_phantom_agent(b"\x01" * 32, False) == {"source": "b", "connectionId": b"\x01" * 32}


@given(secret=st.integers(1, N - 1), digest=st.binary(min_size=32, max_size=32))
def test_any_key_signs_like_eth_account(secret: int, digest: bytes) -> None:
    key = secret.to_bytes(32, "big")
    ours = S.LocalSigner(key)
    theirs = Account.from_key(key)
    assert ours.address == theirs.address
    signed = theirs.unsafe_sign_hash(digest)
    assert ours.sign_digest(digest) == (signed.r, signed.s, signed.v)


# ---------------------------------------------------------------------------------------- user-signed actions

_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=20),
    "address": addresses | mixed_case_addresses,
    "bool": st.booleans(),
    "uint64": uint64,
    "bytes32": st.binary(min_size=32, max_size=32),
}


@st.composite
def user_actions(draw: st.DrawFn) -> tuple[S.UserSignedActionType, dict[str, Any]]:
    kind = draw(st.sampled_from(list(S.USER_SIGNED_ACTION_TYPES.values())))
    action: dict[str, Any] = {"type": kind.action_type}
    for name, ftype in kind.fields[1:]:
        action[name] = draw(_FIELD_VALUES[ftype])
    return kind, action


@given(spec=user_actions(), is_mainnet=st.booleans(), chain_id=st.sampled_from(["0x66eee", "0xa4b1", "0x1"]))
def test_user_signed_equals_eth_account(
    spec: tuple[S.UserSignedActionType, dict[str, Any]], is_mainnet: bool, chain_id: str
) -> None:
    kind, action = spec
    ours = S.sign_user_signed_action(
        SIGNER, action, kind.payload_types, kind.primary_type, is_mainnet, signature_chain_id=chain_id
    )
    # Mutated like the SDK: the two keys are appended last.
    assert list(action)[-2:] == ["signatureChainId", "hyperliquidChain"]
    assert action["hyperliquidChain"] == ("Mainnet" if is_mainnet else "Testnet")
    ref_digest, ref_sig = ref_sign(ref_user_payload(action, kind.payload_types, kind.primary_type))
    assert S.user_signed_digest(action, kind.payload_types, kind.primary_type) == ref_digest
    assert ours == ref_sig
    assert S.recover_user_signed_signer(action, ours, is_mainnet) == SIGNER.address
    assert S.recover_user_signed_signer(action, ours) == SIGNER.address
    with pytest.raises(ProtocolError, match="hyperliquidChain"):
        S.recover_user_signed_signer(action, ours, not is_mainnet)


def test_multi_sig_envelope_equals_eth_account() -> None:
    envelope = {"multiSigActionHash": b"\x07" * 32, "nonce": 99}
    ours = S.sign_user_signed_action(
        SIGNER, envelope, S.SEND_MULTI_SIG.payload_types, S.SEND_MULTI_SIG.primary_type, False
    )
    _, ref_sig = ref_sign(ref_user_payload(envelope, S.SEND_MULTI_SIG.payload_types, S.SEND_MULTI_SIG.primary_type))
    assert ours == ref_sig


def test_approve_agent_without_name_recovers_as_empty_name() -> None:
    action = {"type": "approveAgent", "agentAddress": S.LocalSigner.generate().address, "agentName": "", "nonce": 5}
    sig = S.sign_user_action(SIGNER, action, False)
    del action["agentName"]  # what the SDK posts when name is None
    assert S.recover_user_signed_signer(action, sig, False) == SIGNER.address
    action["agentName"] = "bot"
    assert S.recover_user_signed_signer(action, sig, False) != SIGNER.address


def test_user_signed_extra_keys_are_ignored_but_fields_are_required() -> None:
    action = {"type": "usdClassTransfer", "amount": "1.5", "toPerp": True, "nonce": 3}
    sig = S.sign_user_action(SIGNER, action, True)
    assert S.recover_user_signed_signer({**action, "extra": [1, 2]}, sig) == SIGNER.address
    del action["toPerp"]
    with pytest.raises(ProtocolError, match="toPerp"):
        S.recover_user_signed_signer(action, sig)


@pytest.mark.parametrize(
    "action",
    [
        {"type": "usdClassTransfer", "amount": "1", "toPerp": "true", "nonce": 1},
        {"type": "usdClassTransfer", "amount": 1, "toPerp": True, "nonce": 1},
        {"type": "usdClassTransfer", "amount": "1", "toPerp": True, "nonce": -1},
        {"type": "usdClassTransfer", "amount": "1", "toPerp": True, "nonce": 2**64},
        {"type": "approveAgent", "agentAddress": "0x12", "nonce": 1},
        {"type": "approveBuilderFee", "maxFeeRate": "0.01%", "builder": None, "nonce": 1},
    ],
)
def test_mistyped_user_signed_fields(action: dict[str, Any]) -> None:
    with pytest.raises(InvalidOrderError):
        S.sign_user_action(SIGNER, dict(action), False)
    posted = {**action, "signatureChainId": "0x66eee", "hyperliquidChain": "Testnet"}
    with pytest.raises(ProtocolError):
        S.recover_user_signed_signer(posted, {"r": "0x1", "s": "0x1", "v": 27})


@pytest.mark.parametrize(
    "action",
    [
        {"type": "order"},
        {"type": "usdSend", "destination": "x", "amount": "1", "time": 1, "hyperliquidChain": "Mainnet"},
        {"type": "usdSend", "signatureChainId": "66eee", "destination": "x", "amount": "1", "time": 1},
        {"type": "usdSend", "signatureChainId": "0x6_6eee", "destination": "x", "amount": "1", "time": 1},
        {"type": "usdSend", "signatureChainId": 421614, "destination": "x", "amount": "1", "time": 1},
        ["usdSend"],
    ],
)
def test_unverifiable_user_signed_actions(action: Any) -> None:
    with pytest.raises(ProtocolError):
        S.recover_user_signed_signer(action, {"r": "0x1", "s": "0x1", "v": 27})


def test_sign_user_action_rejects_l1_types() -> None:
    with pytest.raises(InvalidOrderError, match="user-signed"):
        S.sign_user_action(SIGNER, {"type": "order"}, True)


def test_custom_payload_types_are_compiled() -> None:
    types = [{"name": "hyperliquidChain", "type": "string"}, {"name": "x", "type": "uint32"}]
    action = {"x": 7}
    ours = S.sign_user_signed_action(SIGNER, action, types, "Custom:Thing", True)
    _, ref_sig = ref_sign(ref_user_payload(action, types, "Custom:Thing"))
    assert ours == ref_sig
    with pytest.raises(InvalidOrderError, match="unsupported"):
        S.sign_user_signed_action(SIGNER, {}, [{"name": "x", "type": "string[]"}], "Custom:Arr", True)
    with pytest.raises(InvalidOrderError, match="payload_types"):
        S.sign_user_signed_action(SIGNER, {}, [{"nom": "x"}], "Custom:Bad", True)


# ------------------------------------------------------------------------------------------------ recovery


def _digest_and_sig() -> tuple[bytes, int, int, int]:
    digest = S.l1_digest({"type": "noop"}, None, 1, None, False)
    r, s, v = SIGNER.sign_digest(digest)
    return digest, r, s, v


@pytest.mark.parametrize("is_mainnet", [True, False])
def test_precomputed_l1_digest_prefixes_equal_the_generic_eip712_path(is_mainnet: bool) -> None:
    """The Agent type/source prefix per network and the ``0x1901 ‖ domain`` prefix are precomputed; they must
    give exactly the digest of the compiled-type path (and so the two networks never share a digest)."""
    for action, vault, nonce, expires in (
        ({"type": "noop"}, None, 1, None),
        ({"type": "cancel", "cancels": [{"a": 3, "o": 7}]}, "0x" + "ab" * 20, 2**64 - 1, None),
        ({"type": "noop"}, None, 0, 5),
        ({"type": "noop"}, "0x" + "01" * 20, 9, 2**63),
    ):
        connection_id = S.action_hash(action, vault, nonce, expires)
        generic = typed_data_digest(
            domain_separator("Exchange", "1", 1337, ZERO),
            S.AGENT_TYPE.hash_struct({"source": "a" if is_mainnet else "b", "connectionId": connection_id}),
        )
        assert S.l1_digest(action, vault, nonce, expires, is_mainnet) == generic
        assert S.l1_digest(action, vault, nonce, expires, not is_mainnet) != generic


def test_a_signature_may_be_any_mapping_and_missing_parts_are_named() -> None:
    sig = S.sign_l1_action(SIGNER, {"type": "noop"}, None, 1, None, True)
    assert S.recover_l1_signer({"type": "noop"}, None, 1, None, True, MappingProxyType(dict(sig))) == SIGNER.address
    with pytest.raises(ProtocolError, match=r"signature is missing s, v$"):
        S.parse_signature({"r": sig["r"]})
    with pytest.raises(ProtocolError, match=r"signature is missing r$"):
        S.parse_signature(MappingProxyType({"s": sig["s"], "v": 27}))


def test_padded_and_unpadded_signatures_recover_the_same() -> None:
    digest, r, s, v = _digest_and_sig()
    for sig in (
        {"r": hex(r), "s": hex(s), "v": v},
        {"r": f"0x{r:064x}", "s": f"0x{s:064x}", "v": v},
        {"r": f"0X{r:064X}", "s": f"{s:x}", "v": v - 27},
        {"r": r, "s": s, "v": v},
    ):
        assert S.recover_digest_signer(digest, sig) == SIGNER.address


def test_short_hex_signature_components_are_accepted() -> None:
    # Find a signature whose r has a leading zero nibble so the SDK form is shorter than 64 digits.
    nonce = 0
    while True:
        sig = S.sign_l1_action(SIGNER, {"type": "noop"}, None, nonce, None, True)
        if len(sig["r"]) < 66:
            break
        nonce += 1
    assert int(sig["r"], 16) < 1 << 252
    assert S.recover_l1_signer({"type": "noop"}, None, nonce, None, True, sig) == SIGNER.address


@given(r=st.integers(1, N - 1), s=st.integers(1, N - 1), v=st.sampled_from([27, 28]))
def test_recovery_of_arbitrary_signatures_matches_eth_account(r: int, s: int, v: int) -> None:
    digest = bytes(range(32))
    try:
        expected = Account._recover_hash(digest, vrs=(v, r, s))
    except Exception:
        with pytest.raises(ProtocolError):
            S.recover_digest_signer(digest, {"r": hex(r), "s": hex(s), "v": v})
    else:
        assert S.recover_digest_signer(digest, {"r": hex(r), "s": hex(s), "v": v}) == expected


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "0xdeadbeef",
        {"r": "0x1", "s": "0x1"},
        {"r": "0x0", "s": "0x1", "v": 27},
        {"r": "0x1", "s": hex(N), "v": 27},
        {"r": "0x" + "f" * 65, "s": "0x1", "v": 27},
        {"r": "0xg1", "s": "0x1", "v": 27},
        {"r": "", "s": "0x1", "v": 27},
        {"r": "0x", "s": "0x1", "v": 27},
        {"r": "0x-1", "s": "0x1", "v": 27},
        {"r": "0x1_2", "s": "0x1", "v": 27},
        {"r": " 0x12", "s": "0x1", "v": 27},
        {"r": "0x12 ", "s": "0x1", "v": 27},
        {"r": 1.5, "s": "0x1", "v": 27},
        {"r": "0x1", "s": "0x1", "v": 29},
        {"r": "0x1", "s": "0x1", "v": True},
        {"r": "0x1", "s": "0x1", "v": "27"},
    ],
)
def test_malformed_signatures_raise_protocol_error(signature: Any) -> None:
    with pytest.raises(ProtocolError):
        S.recover_l1_signer({"type": "noop"}, None, 1, None, True, signature)


@given(signature=st.dictionaries(st.sampled_from(["r", "s", "v", "x"]), json_values, max_size=4))
def test_garbage_signatures_never_crash(signature: dict[str, Any]) -> None:
    try:
        address = S.recover_l1_signer({"type": "noop"}, None, 1, None, True, signature)
    except ProtocolError:
        return
    assert address.startswith("0x") and len(address) == 42


def test_bad_l1_message_on_recovery_is_protocol_error() -> None:
    sig = S.sign_l1_action(SIGNER, {"type": "noop"}, None, 1, None, True)
    with pytest.raises(ProtocolError, match="vault_address"):
        S.recover_l1_signer({"type": "noop"}, "0xnothex", 1, None, True, sig)
    with pytest.raises(ProtocolError, match="nonce"):
        S.recover_l1_signer({"type": "noop"}, None, -1, None, True, sig)


# ------------------------------------------------------------------------------------------- key hygiene


def test_signer_never_shows_its_key() -> None:
    hex_body = KEY[2:]
    assert hex_body not in repr(SIGNER) and hex_body not in str(SIGNER)
    assert repr(SIGNER) == f"LocalSigner(address={ACCOUNT.address!r})"
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        pickle.dumps(SIGNER)
    assert hex_body not in str(info.value)
    assert copy.deepcopy(SIGNER) is SIGNER and copy.copy(SIGNER) is SIGNER
    assert not hasattr(SIGNER, "__dict__")
    assert isinstance(SIGNER, S.Signer)


@pytest.mark.parametrize(
    "bad",
    [
        "0x" + "ab" * 31 + "zz",
        "0x" + "ab" * 31 + "_1",
        "0x" + "ab " * 21 + "a",
        "0x" + "ab" * 31,
        "ab" * 33,
        "0x" + "00" * 32,
        "0x" + "ff" * 32,
        b"\x01" * 31,
        12345,
    ],
)
def test_bad_keys_are_rejected_without_echoing_them(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        S.LocalSigner(bad)
    text = str(info.value)
    if isinstance(bad, str):
        assert bad[2:] not in text and bad not in text
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_key_forms_and_export() -> None:
    assert S.LocalSigner(KEY[2:]).address == SIGNER.address
    assert S.LocalSigner(bytes.fromhex(KEY[2:])).address == SIGNER.address
    assert SIGNER.export_private_key_hex() == KEY
    fresh = S.LocalSigner.generate()
    assert Account.from_key(fresh.export_private_key_hex()).address == fresh.address
    with pytest.raises(ValueError, match="32 bytes"):
        SIGNER.sign_digest(b"\x00" * 31)


@given(raw=st.binary(min_size=20, max_size=20))
def test_checksum_address_matches_eth_utils(raw: bytes) -> None:
    from eth_utils import to_checksum_address as ref

    assert S.to_checksum_address(raw) == ref(raw)
    assert S.to_checksum_address("0x" + raw.hex().upper()) == ref(raw)


def test_struct_type_reports_missing_and_mistyped_fields() -> None:
    struct = StructType.from_fields("T", [("a", "uint8"), ("b", "bytes32")])
    with pytest.raises(ValueError, match="missing field 'a'"):
        struct.hash_struct({})
    with pytest.raises(ValueError, match=r"T\.a"):
        struct.hash_struct({"a": 256, "b": b"\x00" * 32})
    with pytest.raises(ValueError, match=r"T\.b"):
        struct.hash_struct({"a": 1, "b": "0x12"})
    assert struct.hash_struct({"a": 1, "b": "0x" + "00" * 32}) == struct.hash_struct({"a": 1, "b": b"\x00" * 32})


@pytest.mark.parametrize(
    ("missing", "backend"),
    [((), "tiny-keccak"), (("tiny_keccak",), "safe-pysha3"), (("tiny_keccak", "sha3"), "pycryptodome")],
)
def test_every_keccak_backend_is_the_same_keccak(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...], backend: str
) -> None:
    import importlib.util
    import sys

    from trio_hl.hyperliquid import _eip712

    for name in ("tiny_keccak", "sha3"):
        if name not in missing and importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed here")
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # import name -> ImportError
    fallback, name = _eip712._make_keccak()
    assert name == backend
    for data in (b"", b"a", bytes(135), bytes(136), bytes(137), bytes(range(256)) * 3):
        assert fallback(data) == keccak256(data) == bytes(ref_keccak(data))


def test_keccak256_takes_any_bytes_like() -> None:
    assert keccak256(bytearray(b"abc")) == keccak256(memoryview(b"abc")) == keccak256(b"abc") == ref_keccak(b"abc")


@pytest.mark.parametrize("bad", ["0x" + "g" * 40, "0x" + "a" * 39, "0x" + "a b" * 13 + "a", b"\x00" * 19])
def test_checksum_address_rejects_malformed(bad: Any) -> None:
    with pytest.raises(ValueError, match="address"):
        S.to_checksum_address(bad)


class _RemoteSigner:
    """A Signer that is not a LocalSigner (as a user's HSM adapter would be); returns raw recovery ids."""

    def __init__(self, inner: S.LocalSigner, *, broken: bool = False) -> None:
        self.address = inner.address
        self._inner = inner
        self._broken = broken

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        r, s, v = self._inner.sign_digest(digest)
        return (0 if self._broken else r), s, v - 27


def test_any_signer_protocol_implementation_works_and_v_is_normalised() -> None:
    remote = _RemoteSigner(SIGNER)
    assert isinstance(remote, S.Signer)
    action = {"type": "noop"}
    assert S.sign_l1_action(remote, action, None, 3, None, True) == S.sign_l1_action(
        SIGNER, action, None, 3, None, True
    )
    with pytest.raises(ConfigError, match="invalid signature"):
        S.sign_l1_action(_RemoteSigner(SIGNER, broken=True), action, None, 3, None, True)


def test_user_signed_typed_data_is_the_sdk_payload() -> None:
    action = {"type": "approveBuilderFee", "maxFeeRate": "0.001%", "builder": "0x" + "ab" * 20, "nonce": 8}
    S.sign_user_action(SIGNER, action, True)
    kind = S.APPROVE_BUILDER_FEE
    doc = S.user_signed_typed_data(action, kind.payload_types, kind.primary_type)
    assert doc == ref_user_payload(action, kind.payload_types, kind.primary_type)
    assert encode_typed_data(full_message=doc) == encode_typed_data(
        full_message=ref_user_payload(action, kind.payload_types, kind.primary_type)
    )


@pytest.mark.parametrize("network", [None, 1, 0, "mainnet", "Testnet"])
def test_network_must_be_an_explicit_bool(network: Any) -> None:
    with pytest.raises(InvalidOrderError, match="is_mainnet"):
        S.sign_l1_action(SIGNER, {"type": "noop"}, None, 1, None, network)
    action = {"type": "usdSend", "destination": "x", "amount": "1", "time": 1}
    with pytest.raises(InvalidOrderError, match="is_mainnet"):
        S.sign_user_action(SIGNER, action, network)
    assert "signatureChainId" not in action  # nothing mutated on a refused call


# ------------------------------------------------------------------------------- the msgspec encoder

wide_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(), inner, max_size=20),
    max_leaves=60,
)


@given(value=wide_json)
def test_recovery_encoder_writes_msgpack_python_bytes(value: Any) -> None:
    """Actions are packed with msgspec: for every JSON value the bytes are msgpack-python's (the SDK's)."""
    assert S._pack(value) == msgpack.packb(value)


@pytest.mark.parametrize("size", [15, 16, 31, 32, 255, 256, 65535, 65536])
def test_recovery_encoder_length_boundaries(size: int) -> None:
    for value in ("x" * size, "é" * size, [1] * size, {str(i): i for i in range(size)}):
        assert S._pack(value) == msgpack.packb(value)


def test_recovery_with_floats_and_nesting_finds_the_signer() -> None:
    action = {"type": "x", "a": [1.5, -0.0, 1e300, {"b": [None, True, -(2**63), 2**64 - 1, "é"]}]}
    sig = S.sign_l1_action(SIGNER, action, None, 7, 9, False)
    assert S.recover_l1_signer(action, None, 7, 9, False, sig) == SIGNER.address


@pytest.mark.parametrize(
    "action",
    [{"type": "x", "n": 2**64}, {"type": "x", "o": object()}, {"type": "x", "deep": "nest"}],
)
def test_unencodable_actions_on_recovery_are_protocol_errors(action: dict[str, Any]) -> None:
    if action.get("deep"):
        nested: list[Any] = []
        for _ in range(100_000):
            nested = [nested]
        action = {"type": "x", "deep": nested}
    sig = S.sign_l1_action(SIGNER, {"type": "noop"}, None, 1, None, True)
    with pytest.raises(ProtocolError, match="msgpack"):
        S.recover_l1_signer(action, None, 1, None, True, sig)


def test_non_json_values_msgpack_refuses_cannot_be_posted_either() -> None:
    """msgspec encodes a few non-JSON types msgpack-python refuses (a Decimal as its string, a set as an array);
    the JSON body the connector and the SDK post (``json.dumps``) refuses each of them, so such an action still
    fails before anything reaches the venue - and a Decimal signs exactly as its string would."""
    for value in (Decimal("1.5"), {1, 2}):
        with pytest.raises(TypeError):
            msgpack.packb({"type": "x", "v": value})
        with pytest.raises(TypeError):
            json.dumps({"type": "x", "v": value})
    as_decimal = S.sign_l1_action(SIGNER, {"type": "x", "p": Decimal("1.5")}, None, 1, None, True)
    assert as_decimal == S.sign_l1_action(SIGNER, {"type": "x", "p": "1.5"}, None, 1, None, True)
