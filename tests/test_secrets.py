"""The private key never shows itself through a config value (issue 17 item 6)."""

from __future__ import annotations

import copy
import json
import logging
import pickle

import attrs
import pytest

from trio_hl import ConnectorConfig
from trio_hl.core.secret import Secret
from trio_hl.errors import ConfigError
from trio_hl.hyperliquid.signing import LocalSigner

KEY = "0x" + "4c" * 32
BARE = KEY[2:]


def _config() -> ConnectorConfig:
    return ConnectorConfig(base_url="http://127.0.0.1:1", private_key=KEY, pairs=("ETH",))


def _assert_hidden(text: str) -> None:
    assert BARE not in text
    assert BARE.upper() not in text


def test_repr_str_format_and_asdict_mask_the_key() -> None:
    config = _config()
    _assert_hidden(repr(config))
    _assert_hidden(str(config))
    _assert_hidden(f"{config.private_key} {config.private_key!r} {config.private_key:>10}")
    as_dict = attrs.asdict(config)
    _assert_hidden(repr(as_dict))
    _assert_hidden(str(as_dict))
    assert str(as_dict["private_key"]) == "***"
    # A JSON dump of the dict (a common "log my config" habit) shows the mask, never the key.
    _assert_hidden(json.dumps(as_dict, default=str))
    assert "***" in json.dumps(as_dict, default=str)


def test_pickling_the_config_or_the_secret_is_refused() -> None:
    config = _config()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(config, protocol=protocol)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(config.private_key, protocol=protocol)


def test_copies_keep_the_key_without_revealing_it() -> None:
    config = _config()
    for clone in (copy.copy(config), copy.deepcopy(config), attrs.evolve(config, pairs=("BTC",))):
        assert clone.private_key is config.private_key
        assert clone.private_key is not None and clone.private_key.reveal() == KEY
        _assert_hidden(repr(clone))
    assert copy.deepcopy(config) == config


def test_reveal_is_the_one_way_out_and_builds_the_same_signer() -> None:
    config = _config()
    assert config.private_key is not None
    assert LocalSigner(config.private_key.reveal()).address == LocalSigner(KEY).address


def test_equality_is_by_value_and_hash_is_consistent() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("0x" + "11" * 32)
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert _config() == _config()
    assert hash(_config()) == hash(_config())


def test_the_secret_is_immutable() -> None:
    secret = Secret(KEY)
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]


def test_a_key_of_the_wrong_type_is_refused_without_echoing_it() -> None:
    raw = bytes.fromhex(BARE)
    with pytest.raises(ConfigError) as info:
        ConnectorConfig(base_url="http://127.0.0.1:1", private_key=raw)  # type: ignore[arg-type]
    _assert_hidden(str(info.value))
    assert "bytes" in str(info.value)
    assert "must be a str" in str(info.value)


def test_logging_the_config_shows_no_key(caplog: pytest.LogCaptureFixture) -> None:
    config = _config()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("starting with %s / key %s", config, config.private_key)
    _assert_hidden(caplog.text)
    assert "***" in caplog.text
