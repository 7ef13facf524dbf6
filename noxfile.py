"""nox sessions; each is exactly what CI (or a developer) runs.

- ``tests``: the README's test command, once per supported Python (``tests-3.11``, ``tests-3.12``,
  ``tests-3.13``; ``.ci/run`` runs 3.11 as the README command and the other two through nox).
- ``docs``: the API reference (``mkdocs build --strict``: any warning fails) and a check that it documents every
  public name (``scripts/check_api_docs.py``); mkdocs and mkdocstrings live in this session's virtualenv only.
- ``lint`` / ``typecheck``: ruff and mypy strict.
- ``sdk_compat``: our wire/signing output vs the official ``hyperliquid-python-sdk`` (which pins
  ``eth-account<0.14``, so it gets its own virtualenv and never becomes a runtime dependency), and the SDK and
  ccxt's own Hyperliquid client (:data:`CCXT_COMPAT`, same rule: installed here only) driven against our
  emulator.
- ``bench``: every benchmark, one run, figures printed and ``benchmarks/REPORT.md`` regenerated, with the SDK
  (for the peer ratios) and matplotlib (for the plots in ``benchmarks/plots/``, not committed) installed in its
  own virtualenv only: neither is a project dependency.
- ``bench_peers``: the same run on Python 3.12 with the peers installed from PyPI (Hummingbot, NautilusTrader,
  the official SDK, ccxt), so every peer row of ``benchmarks/REPORT.md`` is measured in that one run.  Hummingbot
  is built from its source distribution with ``--no-deps`` (its full dependency set does not resolve next to the
  others) plus only what its order book, ``ClientOrderTracker`` and Hyperliquid auth import; its Cython build
  takes several minutes.  Nothing of theirs is committed here: they are installed into this session's
  virtualenv only.
- ``chaos``: the long chaos suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

SDK = "hyperliquid-python-sdk==0.24.0"
#: The Python versions trio-hl supports (pyproject's ``requires-python`` and classifiers say the same).
PYTHONS = ("3.11", "3.12", "3.13")


def _find_pythons(versions: tuple[str, ...]) -> None:
    """Make ``python3.X`` for each version findable by nox, on a machine where pyenv installed them.

    pyenv puts a *shim* ``python3.12`` on PATH that fails ("command not found") unless that version is selected,
    so nox would report the interpreter missing (or try to download one).  For each version whose
    ``python3.X`` does not run, the newest ``$PYENV_ROOT/versions/3.X.*/bin`` is put first on PATH.  Nothing
    changes where the interpreters are already usable (a CI image with them on PATH, a developer's pyenv global).
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    prepend: list[str] = []
    for version in versions:
        exe = shutil.which(f"python{version}")
        if exe is not None and subprocess.run([exe, "-c", ""], capture_output=True, check=False).returncode == 0:
            continue

        def patch(path: Path) -> int:
            match = re.fullmatch(r"\d+\.\d+\.(\d+)", path.name)
            return int(match.group(1)) if match else -1

        installed = [p for p in (root / "versions").glob(f"{version}.*") if patch(p) >= 0]
        if installed:
            prepend.append(str(max(installed, key=patch) / "bin"))
    if prepend:
        os.environ["PATH"] = os.pathsep.join([*prepend, os.environ.get("PATH", "")])


_find_pythons(PYTHONS)
PEERS_PYTHON = "3.12"
HUMMINGBOT = "hummingbot==20260922"
#: What Hummingbot's OrderBook, ClientOrderTracker/InFlightOrder and Hyperliquid auth import (found by importing
#: them in a --no-deps install; its full requirement set pins e.g. urllib3<2 and pandas-ta).
HUMMINGBOT_IMPORTS = ("numpy", "pandas", "cachetools", "ujson", "aiohttp", "async-timeout", "eth-account")
NAUTILUS = "nautilus_trader==1.231.0"
CCXT = "ccxt"
#: ccxt for ``sdk_compat``: pinned to the release ``tests/sdk_compat/test_ccxt_compat.py`` was written against
#: (its Hyperliquid client changes often; moving the pin is a deliberate, re-checked step).
CCXT_COMPAT = "ccxt==4.5.90"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "trio_hl", "tests", "benchmarks", "examples")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def sdk_compat(session: nox.Session) -> None:
    session.install(SDK, CCXT_COMPAT, "-e", ".", "pytest", "pytest-trio", "hypothesis")
    session.run("pytest", "tests/sdk_compat", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install(SDK, "matplotlib", "-e", ".")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session(python=PEERS_PYTHON)
def bench_peers(session: nox.Session) -> None:
    session.install(SDK, NAUTILUS, CCXT, "matplotlib", *HUMMINGBOT_IMPORTS, "-e", ".")
    session.install("--no-deps", HUMMINGBOT)
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", "tests", "-m", "slow", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    site = Path(session.create_tmp()) / "site"
    session.install("mkdocs>=1.6", "mkdocstrings[python]>=0.26", "-e", ".")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))
    session.run("python", "scripts/check_api_docs.py", str(site))
