"""The ``trio-hl`` command as a user meets it: each mistake is one line on stderr, no traceback, the right exit
status; Ctrl-C is a quiet 130 after the clean-up; a closed pipe is a quiet 141.

Every test runs the real command in a subprocess (``python -m trio_hl.cli``, the same ``main`` the ``trio-hl``
script calls), because what is under test is what reaches the terminal and the exit status.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio

from trio_hl.hyperliquid.signing import LocalSigner

CLI = [sys.executable, "-m", "trio_hl.cli"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRIO_HL_PRIVATE_KEY"}
    env.update(extra)
    return env


async def _run(args: Sequence[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(120):
        return await trio.run_process([*CLI, *args], capture_stdout=True, capture_stderr=True, check=False,
                                      env=env if env is not None else _env())


def _one_line(proc: subprocess.CompletedProcess[bytes], command: str, status: int) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == status, (proc.returncode, err)
    assert "Traceback" not in err and "Error:" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"trio-hl {command}: ") and line.endswith(")") and " (" in line, line
    return line


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused at once (nothing else can take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# ------------------------------------------------------------------------------------------ demo


async def test_unknown_pair_is_one_line_naming_listed_pairs() -> None:
    line = _one_line(await _run(["demo", "--pair", "DOGE", "--no-ui", "--no-zmq"]), "demo", 2)
    assert "pair 'DOGE' is not listed by the embedded emulator" in line and "BTC" in line and "--pair" in line


async def test_size_zero_is_refused_before_anything_starts() -> None:
    line = _one_line(await _run(["demo", "--size", "0", "--no-ui", "--no-zmq"]), "demo", 2)
    assert line == "trio-hl demo: argument --size: must be greater than 0, got 0 (see `trio-hl demo --help`)"


async def test_size_below_the_lot_size_is_refused_once_meta_is_known() -> None:
    line = _one_line(await _run(["demo", "--size", "0.000001", "--no-ui", "--no-zmq"]), "demo", 2)
    assert line == ("trio-hl demo: --size 0.000001 is below BTC's lot size 0.00001 "
                    "(use a multiple of 0.00001, at least 0.00001)")


async def test_size_off_the_lot_grid_is_refused() -> None:
    line = _one_line(await _run(["demo", "--pair", "ETH", "--size", "0.01234", "--no-ui", "--no-zmq"]), "demo", 2)
    assert "is not a multiple of ETH's lot size" in line


async def test_size_below_the_minimum_order_value_is_refused() -> None:
    line = _one_line(await _run(["demo", "--size", "0.00001", "--no-ui", "--no-zmq"]), "demo", 2)
    assert "below the venue's minimum order value 10" in line and "use --size" in line


async def test_negative_duration_is_refused() -> None:
    line = _one_line(await _run(["demo", "--duration", "-1", "--no-ui", "--no-zmq"]), "demo", 2)
    assert "argument --duration: must be 0 (until Ctrl-C) or a positive number of seconds, got -1" in line


async def test_unknown_option_is_reported_by_its_command() -> None:
    line = _one_line(await _run(["demo", "--sise", "1"]), "demo", 2)
    assert line == "trio-hl demo: unrecognized arguments: --sise 1 (see `trio-hl demo --help`)"


async def test_missing_key_for_a_real_venue(closed_port: int) -> None:
    line = _one_line(await _run(["demo", "--base-url", f"http://127.0.0.1:{closed_port}"]), "demo", 2)
    assert "a private key is needed" in line and "TRIO_HL_PRIVATE_KEY" in line


async def test_mainnet_needs_allow_mainnet() -> None:
    key = LocalSigner.generate().export_private_key_hex()
    proc = await _run(["demo", "--base-url", "https://api.hyperliquid.xyz"], env=_env(TRIO_HL_PRIVATE_KEY=key))
    assert "--allow-mainnet" in _one_line(proc, "demo", 2)


async def test_unreachable_venue(closed_port: int) -> None:
    key = LocalSigner.generate().export_private_key_hex()
    url = f"http://127.0.0.1:{closed_port}"
    proc = await _run(["demo", "--base-url", url, "--no-zmq"], env=_env(TRIO_HL_PRIVATE_KEY=key))
    line = _one_line(proc, "demo", 1)
    assert f"cannot reach the venue at {url}" in line and "check --base-url" in line


# ------------------------------------------------------------------------------------------ emulator


async def test_emulator_port_in_use(busy_port: int) -> None:
    line = _one_line(await _run(["emulator", "--port", str(busy_port)]), "emulator", 1)
    assert line == (f"trio-hl emulator: port {busy_port} on 127.0.0.1 is already in use (stop what holds it, "
                    "or pick another with --port; --port 0 takes any free port)")


async def test_emulator_bad_fault_value_names_the_flag() -> None:
    line = _one_line(await _run(["emulator", "--fault-ws-duplicate-prob", "2"]), "emulator", 2)
    assert "argument --fault-ws-duplicate-prob: must be a probability in [0, 1], got 2.0" in line


async def test_emulator_port_out_of_range() -> None:
    line = _one_line(await _run(["emulator", "--port", "70000"]), "emulator", 2)
    assert "argument --port: must be a port in 0..65535, got 70000" in line


def test_every_emulator_option_has_help() -> None:
    from trio_hl.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[attr-defined]
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"trio-hl {name} {action.option_strings[0]} has no help text"
    emulator = commands.choices["emulator"]  # type: ignore[attr-defined]
    flags = {s for a in emulator._actions for s in a.option_strings}
    assert "--host" in flags and sum(f.startswith("--fault-") for f in flags) >= 19


# ------------------------------------------------------------------------------------------ orders / fills


async def test_orders_without_a_database(tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite"
    line = _one_line(await _run(["orders", "--db", str(db)]), "orders", 1)
    assert line == f"trio-hl orders: no recorder database at {db} (run `trio-hl record --db {db}` first)"


async def test_limit_must_be_positive(tmp_path: Path) -> None:
    line = _one_line(await _run(["fills", "--db", str(tmp_path / "x"), "--limit", "0"]), "fills", 2)
    assert "argument --limit: must be greater than 0, got 0" in line


async def test_orders_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``trio-hl orders | head``: the reader is gone before we write; like any Unix tool, no complaint."""
    from trio_hl.events.recorder import EventStore

    db = tmp_path / "events.sqlite"
    with EventStore(db):
        pass
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away (head exited)
    try:
        with trio.fail_after(60):
            proc = await trio.run_process([*CLI, "orders", "--db", str(db)], stdout=write_end,
                                          capture_stderr=True, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr.decode()
    assert proc.stderr == b""


# ------------------------------------------------------------------------------------------ Ctrl-C


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell inherits SIGINT *ignored*, and so would the
    # command (Unix keeps an ignored SIGINT ignored across exec: nohup semantics); a terminal's Ctrl-C is wanted.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _start(args: Sequence[str]) -> trio.Process:
    return await trio.lowlevel.open_process([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=_env(), preexec_fn=_default_sigint)


async def _read_until(proc: trio.Process, marker: bytes) -> bytes:
    """Read the process's stdout until ``marker`` appears: readiness from its own output, not a sleep."""
    assert proc.stdout is not None
    seen = b""
    while marker not in seen:
        chunk = await proc.stdout.receive_some(65536)
        assert chunk, f"stdout closed before {marker!r}: {seen!r}"
        seen += chunk
    return seen


async def _rest(stream: trio.abc.ReceiveStream | None) -> bytes:
    assert stream is not None
    out = b""
    while chunk := await stream.receive_some(65536):
        out += chunk
    return out


async def test_ctrl_c_stops_the_emulator_quietly() -> None:
    proc = await _start(["emulator", "--port", "0"])
    try:
        with trio.fail_after(60):
            await _read_until(proc, b"listening on http://")
            proc.send_signal(signal.SIGINT)
            err = await _rest(proc.stderr)
            assert await proc.wait() == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert err == b""


async def test_ctrl_c_stops_the_demo_after_cancelling_everything() -> None:
    proc = await _start(["demo", "--duration", "0", "--no-ui", "--no-zmq", "--pair", "ETH"])
    try:
        with trio.fail_after(90):
            await _read_until(proc, b"trio-hl demo: quoting ETH")
            proc.send_signal(signal.SIGINT)
            out = await _rest(proc.stdout)
            err = await _rest(proc.stderr)
            assert await proc.wait() == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert err == b""
    text = out.decode()
    assert "open at exit: ours 0, venue 0" in text  # the summary: everything cancelled before exiting


async def test_ctrl_c_stops_an_example_quietly(closed_port: int) -> None:
    """The examples end through ``run_script``: Ctrl-C on the ZMQ subscriber is a quiet 130 too."""
    example = EXAMPLES / "zmq_subscriber.py"
    proc = await trio.lowlevel.open_process([sys.executable, str(example), f"tcp://127.0.0.1:{closed_port}"],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                                            preexec_fn=_default_sigint)
    try:
        with trio.fail_after(60):
            await _read_until(proc, b"subscribed to")
            proc.send_signal(signal.SIGINT)
            err = await _rest(proc.stderr)
            assert await proc.wait() == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert err == b""


async def test_ctrl_c_while_importing_is_quiet() -> None:
    """A Ctrl-C that lands while the command is still importing trio: the same quiet 130.  The interrupt is
    raised by an import hook at the import of ``trio`` (deterministic, where a real Ctrl-C lands by luck)."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'trio':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from trio_hl.cli import main\n"
        "sys.exit(main(['emulator', '--port', '0']))\n"
    )
    with trio.fail_after(60):
        proc = await trio.run_process([sys.executable, "-c", code], capture_stdout=True, capture_stderr=True,
                                      check=False)
    assert proc.returncode == 130 and proc.stderr == b"" and proc.stdout == b""


# ------------------------------------------------------------------------------------------ the error path itself


def test_an_unexpected_error_keeps_its_traceback() -> None:
    from trio_hl.cli_errors import run_command

    def bug() -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_command("demo", bug, lambda exc: None)


def test_a_group_of_two_different_mistakes_is_not_flattened_into_one_line() -> None:
    from trio_hl.cli_errors import CliError, run_command

    def two() -> int:
        raise ExceptionGroup("two", [CliError("a", "b"), RuntimeError("c")])

    with pytest.raises(ExceptionGroup):
        run_command("demo", two)


def test_a_mistake_inside_trio_nurseries_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from trio_hl.cli_errors import CliError, run_command

    def nested() -> int:
        async def main() -> None:
            async with trio.open_nursery() as outer:
                outer.start_soon(trio.sleep_forever)
                async with trio.open_nursery():
                    raise CliError("what is wrong", "what to do", status=2)

        trio.run(main)
        return 0

    assert run_command("demo", nested) == 2
    assert capsys.readouterr().err == "trio-hl demo: what is wrong (what to do)\n"
