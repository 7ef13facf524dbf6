"""nox sessions; each is exactly what CI (or a developer) runs.

- ``tests``: the README's test command.
- ``lint`` / ``typecheck``: ruff and mypy strict.
- ``sdk_compat``: our wire/signing output vs the official ``hyperliquid-python-sdk`` (which pins
  ``eth-account<0.14``, so it gets its own virtualenv and never becomes a runtime dependency), and the SDK
  driven against our emulator.
- ``bench``: every benchmark, one run, figures printed and ``benchmarks/REPORT.md`` regenerated, with the SDK
  (for the peer ratios) and matplotlib (for the plots in ``benchmarks/plots/``, not committed) installed in its
  own virtualenv only: neither is a project dependency.
- ``chaos``: the long chaos suite.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

SDK = "hyperliquid-python-sdk==0.24.0"


@nox.session
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
    session.install(SDK, "-e", ".", "pytest", "pytest-trio", "hypothesis")
    session.run("pytest", "tests/sdk_compat", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install(SDK, "matplotlib", "-e", ".")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", "tests", "-m", "slow", "-p", "no:cacheprovider", *session.posargs)
