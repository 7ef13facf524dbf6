"""The emulator in a process of its own, for benchmarks that measure a client's throughput.

Why: a venue does not run on the client's CPU.  With the emulator in the benchmark's own process the two share
one core and one Trio loop, so a "client orders/s" figure is really "client + venue orders/s".  Here the
emulator gets its own interpreter (the 2-CPU box gives it the other core), and its CPU time is read from
``/proc`` so a report can say what each side cost.

``python benchmarks/_emulator_process.py OPTIONS_JSON`` serves ``serve_emulator(**options)`` on a free port and
prints one line, ``listening on URL``; :func:`emulator_process` starts it and stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait_seconds(pid: int | str = "self") -> float | None:
    """Time the (main thread of) process ``pid`` has spent runnable but waiting for a CPU (Linux
    ``/proc/PID/schedstat``, second field; ``None`` elsewhere): on a shared box, the part of a wall-clock figure
    that is nobody's code."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def emulator_process(**options: Any) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``with emulator_process(engine_options={...}) as (proc, url):`` — options as for ``serve_emulator``
    (JSON-able ones; ``unlimited=True`` means ``limits=Limits.unlimited()``)."""
    proc = subprocess.Popen([sys.executable, __file__, json.dumps(options)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"emulator process did not start (first output line: {line!r})")
        yield proc, line.split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def _serve(options: dict[str, Any]) -> None:
    from trio_hl.emulator import Emulator, Limits, serve_emulator

    if options.pop("unlimited", False):
        options["limits"] = Limits.unlimited()
    async with trio.open_nursery() as nursery:
        emulator: Emulator = await nursery.start(lambda task_status: serve_emulator(**options,
                                                                                   task_status=task_status))
        print(f"listening on {emulator.url}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # (terminated by the parent)
        trio.run(_serve, json.loads(sys.argv[1]))
