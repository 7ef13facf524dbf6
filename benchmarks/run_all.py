"""Run every ``benchmarks/bench_*.py`` once, print one table, regenerate ``benchmarks/REPORT.md``.

``python benchmarks/run_all.py [--quick] [--only NAME ...]`` (``nox -s bench`` runs it with the official SDK
installed, so the peer ratios are filled in).

Each benchmark runs in its own subprocess (one benchmark's allocations, threads and sockets cannot skew the
next).  A benchmark exposing ``run(quick) -> list[row]`` (rows with ``name``, ``value``, ``unit`` and optionally
``goal``, ``peer_ratio``, ``note``) is called through a tiny driver that returns its rows as JSON; any other one
(``main()`` + ``report()``, or a plain script) is run as a script and its output lines become rows.  The report
contains only what this run measured: if a benchmark fails, its row says so and shows the error's last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK = "@@ROWS@@"

DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["bench"] = mod
spec.loader.exec_module(mod)
if not hasattr(mod, "run"):
    sys.exit(3)
rows = mod.run(sys.argv[2] == "1")
extra = {"sdk_available": getattr(mod, "SDK_AVAILABLE", None)}
print("@@ROWS@@" + json.dumps({"rows": rows, "extra": extra}, default=str))
"""


def _has_run(path: Path) -> bool:
    text = path.read_text()
    return "\ndef run(" in text


def run_one(path: Path, quick: bool, timeout: float) -> dict[str, Any]:
    """Rows of one benchmark plus its wall time and status."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    structured = _has_run(path)
    if structured:
        cmd = [sys.executable, "-c", DRIVER, str(path), "1" if quick else "0"]
    else:
        cmd = [sys.executable, str(path), *(["--quick"] if quick and "--quick" in path.read_text() else [])]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"name": path.stem, "ok": False, "rows": [], "wall_s": time.perf_counter() - started,
                "error": f"timed out after {timeout:.0f} s", "notes": []}
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"name": path.stem, "ok": False, "rows": [], "wall_s": wall, "error": last, "notes": []}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            payload = json.loads(line[len(MARK):])
            rows = payload["rows"]
            if payload["extra"].get("sdk_available") is False:
                notes.append("official SDK not importable in this environment: peer ratios omitted")
        elif not structured and line.strip():
            rows.append({"name": line.rstrip(), "value": None, "unit": ""})
        elif line.strip():
            notes.append(line.strip())
    return {"name": path.stem, "ok": True, "rows": rows, "wall_s": wall, "error": None, "notes": notes}


def _fmt_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _extra(row: dict[str, Any]) -> str:
    parts = []
    if "peer_ratio" in row:
        parts.append(f"{row['peer_ratio']}x peer")
    if "goal" in row:
        parts.append(f"goal {_fmt_value(row['goal'])}")
    if "note" in row:
        parts.append(str(row["note"]))
    return "; ".join(parts)


def table_rows(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    out: list[tuple[str, str, str, str, str]] = []
    for res in results:
        bench = res["name"].removeprefix("bench_")
        if not res["ok"]:
            out.append((bench, f"FAILED: {res['error']}", "", "", ""))
            continue
        for row in res["rows"]:
            out.append((bench, str(row["name"]), _fmt_value(row.get("value")), str(row.get("unit", "")), _extra(row)))
    return out


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    headers = ("benchmark", "measurement", "value", "unit", "peer / goal")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[1] = min(widths[1], 100)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1][:100].ljust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]),
                 r[4]]
        print("  ".join(cells).rstrip())


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def write_report(results: list[dict[str, Any]], quick: bool, total_s: float, path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    lines = [
        "# Benchmark report",
        "",
        "Generated by `python benchmarks/run_all.py` (`nox -s bench`); every figure below was measured in that run.",
        "Do not edit by hand: re-run the script.",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}",
        f"- python: {platform.python_implementation()} {platform.python_version()}",
        f"- mode: {'quick' if quick else 'full'}; total wall time {total_s:.0f} s",
        "",
    ]
    for res in results:
        lines.append(f"## {res['name']} ({res['wall_s']:.1f} s)")
        lines.append("")
        if not res["ok"]:
            lines += [f"**Failed:** `{res['error']}`", ""]
            continue
        structured = any(r.get("value") is not None for r in res["rows"])
        if structured:
            lines += ["| measurement | value | unit | peer / goal |", "|---|---:|---|---|"]
            for row in res["rows"]:
                lines.append(f"| {_md(str(row['name']))} | {_fmt_value(row.get('value'))} | "
                             f"{_md(str(row.get('unit', '')))} | {_md(_extra(row))} |")
        else:
            lines.append("```")
            lines += [str(r["name"]) for r in res["rows"]]
            lines.append("```")
        for note in res["notes"]:
            lines.append(f"\n_{_md(note)}_")
        lines.append("")
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (each benchmark's --quick)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (e.g. tracker wire)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per benchmark, seconds")
    parser.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    args = parser.parse_args()
    paths = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {n.removeprefix("bench_") for n in args.only}
        paths = [p for p in paths if p.stem.removeprefix("bench_") in wanted]
    started = time.perf_counter()
    results = []
    for path in paths:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        res = run_one(path, args.quick, args.timeout)
        print(f"  {path.name}: {'ok' if res['ok'] else 'FAILED'} in {res['wall_s']:.1f} s", file=sys.stderr,
              flush=True)
        results.append(res)
    total = time.perf_counter() - started
    print()
    print(f"trio-hl benchmarks — {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print_table(table_rows(results))
    write_report(results, args.quick, total, args.report)
    print(f"\nwrote {args.report} ({total:.0f} s)")
    if not all(r["ok"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
