"""Run every ``benchmarks/bench_*.py`` once, print one table, regenerate ``benchmarks/REPORT.md`` and its plots.

``python benchmarks/run_all.py [--quick] [--only NAME ...]`` (``nox -s bench_peers`` runs it on Python 3.12 with
every peer installed - Hummingbot, NautilusTrader, the official SDK, ccxt - and matplotlib, so all peer ratios and
the plots are filled in; ``nox -s bench`` with the SDK only).

Each benchmark runs in its own subprocess (one benchmark's allocations, threads and sockets cannot skew the
next).  A benchmark exposing ``run(quick) -> list[row]`` is called through a tiny driver that returns its rows
as JSON; any other one (``main()`` + ``report()``, or a plain script) is run as a script and its output lines
become rows.  A row has ``name``, ``value``, ``unit`` and optionally:

* ``goal``: a number (a floor) or ``">= N"`` / ``"<= N"``; the table says whether this run met it;
* ``peer_ratio`` and ``peer``: a ratio measured in the same run, and what it was measured against;
* ``note``;
* ``plot``: ``{"file", "x", "xlabel", "series"}`` — rows sharing a ``file`` become one PNG (one panel per unit,
  one line per series, log x axis).

A structured benchmark may also define ``notes() -> list[str]`` (run-time findings, e.g. which peers were
importable) and ``SAMPLES`` (``name -> {"unit", "label", "values"}``, filled by ``run``), drawn as latency
distributions.  Plots need matplotlib (installed by the ``bench`` nox session only, never a project
dependency); without it they are skipped and the report says so.

The report contains only what this run measured: if a benchmark fails, its row says so and shows the error's
last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
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
extra = {"sdk_available": getattr(mod, "SDK_AVAILABLE", None), "samples": getattr(mod, "SAMPLES", {}),
         "notes": mod.notes() if hasattr(mod, "notes") else []}
print("@@ROWS@@" + json.dumps({"rows": rows, "extra": extra}, default=str))
"""


def _has_run(path: Path) -> bool:
    text = path.read_text()
    return "\ndef run(" in text


def run_one(path: Path, quick: bool, timeout: float) -> dict[str, Any]:
    """Rows of one benchmark plus its wall time and status."""
    started = time.perf_counter()
    load = _loadavg()
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
                "error": f"timed out after {timeout:.0f} s", "notes": [], "samples": {}, "load": load}
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        log = _failure_log(path.stem, proc.stderr)
        print(f"  {path.name} failed (exit {proc.returncode}); its stderr is in {log}", file=sys.stderr, flush=True)
        return {"name": path.stem, "ok": False, "rows": [], "wall_s": wall, "error": error_summary(proc.stderr),
                "notes": [], "samples": {}, "load": load}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    samples: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            payload = json.loads(line[len(MARK):])
            rows = payload["rows"]
            notes += payload["extra"].get("notes", [])
            samples = payload["extra"].get("samples", {})
            if payload["extra"].get("sdk_available") is False:
                notes.append("official SDK not importable in this environment: SDK ratios omitted")
        elif not structured and line.strip():
            rows.append({"name": line.rstrip(), "value": None, "unit": ""})
        elif line.strip():
            notes.append(line.strip())
    return {"name": path.stem, "ok": True, "rows": rows, "wall_s": wall, "error": None, "notes": notes,
            "samples": samples, "load": load}


#: A line of an exception group's drawing ("+---- 1 ----", "| ", "+------") carries no information.
_DECORATION = re.compile(r"^[\s|+\-]*(\d+\s*[-+]*)?[\s|+\-]*$")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Group|Warning)\b.*")


def error_summary(stderr: str) -> str:
    """The line of a failed benchmark's stderr that names what went wrong.

    A plain traceback ends with it; an exception group (Trio's nurseries raise them) ends with its box drawing,
    so the last line is ``+------------------------------------`` - which is all the report of the run before
    this function kept.  Here the group's ``| `` gutters are stripped and the innermost exception line wins
    (the group's own "(1 sub-exception)" line only when nothing else names an error)."""
    lines = [re.sub(r"^[\s|+]*", "", raw).rstrip() for raw in stderr.splitlines()]
    lines = [line for line in lines if line and not _DECORATION.match(line)]
    if not lines:
        return "(no output)"
    named = [line for line in lines if _EXCEPTION_LINE.match(line)]
    inner = [line for line in named if "sub-exception" not in line]
    return (inner or named or lines)[-1][:400]


def _failure_log(name: str, stderr: str) -> Path:
    """Keep a failed benchmark's whole stderr where the person running the report can read it."""
    log = Path(tempfile.gettempdir()) / f"trio-hl-bench-{name}.stderr"
    log.write_text(stderr)
    return log


def _loadavg() -> float | None:
    """The 1-minute load average when a benchmark starts: on a shared box it says how much to trust a figure."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _fmt_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def goal_met(value: Any, goal: Any) -> bool | None:
    """Whether ``value`` meets ``goal`` (a bare number is a floor; ``">= N"`` / ``"<= N"``); None if unknown."""
    if not isinstance(value, int | float):
        return None
    if isinstance(goal, int | float):
        return value >= goal
    text = str(goal).replace(",", "").replace("_", "").strip()
    for op in (">=", "<="):
        if text.startswith(op):
            try:
                bound = float(text[len(op):])
            except ValueError:
                return None
            return value >= bound if op == ">=" else value <= bound
    return None


def _extra(row: dict[str, Any]) -> str:
    parts = []
    if "peer_ratio" in row:
        parts.append(f"{row['peer_ratio']}x {row.get('peer', 'peer')}")
    if "goal" in row:
        met = goal_met(row.get("value"), row["goal"])
        verdict = "" if met is None else (" (met)" if met else " (MISSED)")
        parts.append(f"goal {_fmt_value(row['goal'])}{verdict}")
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


#: Peers the benchmarks compare with when importable (``nox -s bench_peers`` installs them all): module, dist.
PEERS = (
    ("hyperliquid", "hyperliquid-python-sdk", "official SDK"),
    ("hummingbot", "hummingbot", "Hummingbot (order book, ClientOrderTracker, Hyperliquid auth)"),
    ("nautilus_trader", "nautilus_trader", "NautilusTrader (OrderBook, Order.apply, Cache)"),
    ("ccxt", "ccxt", "ccxt (hyperliquid signing)"),
    ("coincurve", "coincurve", "coincurve (the secp256k1 signing floor)"),
)


def peer_status() -> list[str]:
    """Which peers this interpreter (the one every benchmark subprocess uses) can import, checked now."""
    out = []
    for module, dist, what in PEERS:
        if importlib.util.find_spec(module) is not None:
            out.append(f"peer: {what}: {dist} {_version(dist)} importable, compared in this run")
        else:
            out.append(f"peer: {what}: not importable here, its rows are skipped (`nox -s bench_peers` installs it)")
    return out


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


# ----------------------------------------------------------------------------------------------- plots


def make_plots(results: list[dict[str, Any]], out_dir: Path) -> tuple[dict[str, list[Path]], str | None]:
    """PNG files per benchmark name, and a note when plots were skipped.  Stale PNGs of the benchmarks that
    ran are removed first, so the directory holds only this run's figures for them."""
    if importlib.util.find_spec("matplotlib") is None:
        return {}, "matplotlib not importable: plots skipped (`nox -s bench` installs it)"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {}
    for res in results:
        for old in out_dir.glob(f"{res['name']}_*.png"):
            old.unlink()
        if not res["ok"]:
            continue
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in res["rows"]:
            if isinstance(row.get("plot"), dict) and isinstance(row.get("value"), int | float):
                groups.setdefault(str(row["plot"]["file"]).removesuffix(".png"), []).append(row)
        for file, rows in groups.items():
            path = out_dir / f"{res['name']}_{file}.png"
            _curve_figure(plt, rows, path)
            made.setdefault(res["name"], []).append(path)
        if res.get("samples"):
            path = out_dir / f"{res['name']}_latency.png"
            _distribution_figure(plt, res["samples"], path)
            made.setdefault(res["name"], []).append(path)
    return made, None


def _curve_figure(plt: Any, rows: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.ticker import StrMethodFormatter

    units = list(dict.fromkeys(str(r.get("unit", "")) for r in rows))
    colors = {name: f"C{k}" for k, name in enumerate(dict.fromkeys(str(r["plot"]["series"]) for r in rows))}
    xlabel = str(rows[0]["plot"].get("xlabel", ""))
    fig, axes = plt.subplots(1, len(units), figsize=(6 * len(units), 4.2), squeeze=False)
    for ax, unit in zip(axes[0], units, strict=True):
        series: dict[str, list[tuple[float, float]]] = {}
        for r in rows:
            if str(r.get("unit", "")) == unit:
                series.setdefault(str(r["plot"]["series"]), []).append((float(r["plot"]["x"]), float(r["value"])))
        for label, points in series.items():
            points.sort()
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label, color=colors[label])
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(unit)
        ax.set_title(f"{unit} vs {xlabel}", fontsize="medium")
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _distribution_figure(plt: Any, samples: dict[str, dict[str, Any]], path: Path) -> None:
    """One panel per unit: log-binned histograms of each sample set, with its p50 and p99 marked."""
    units = list(dict.fromkeys(str(s["unit"]) for s in samples.values()))
    fig, axes = plt.subplots(1, len(units), figsize=(6 * len(units), 4.2), squeeze=False)
    for ax, unit in zip(axes[0], units, strict=True):
        sets = [s for s in samples.values() if str(s["unit"]) == unit and s["values"]]
        lo = min(min(v for v in s["values"] if v > 0) for s in sets)
        hi = max(max(s["values"]) for s in sets)
        edges = [lo * (hi / lo) ** (i / 60) for i in range(61)] if hi > lo else [lo * 0.9, lo * 1.1]
        for k, s in enumerate(sets):
            values = sorted(v for v in s["values"] if v > 0)
            p50, p99 = values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]
            color = f"C{k}"
            ax.hist(values, bins=edges, alpha=0.55, color=color,
                    label=f"{s['label']} (n={len(values):,}; p50 {p50:.3g}, p99 {p99:.3g} {unit})")
            ax.axvline(p50, color=color, linestyle="--", linewidth=1)
            ax.axvline(p99, color=color, linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel(f"{unit} (log scale; dashed p50, dotted p99)")
        ax.set_ylabel("samples (log scale)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def write_report(results: list[dict[str, Any]], quick: bool, total_s: float, path: Path,
                 plots: dict[str, list[Path]], plot_note: str | None) -> None:
    now = dt.datetime.now(dt.UTC)
    lines = [
        "# Benchmark report",
        "",
        "Generated by `python benchmarks/run_all.py` (`nox -s bench_peers`: Python 3.12 with the peers installed); "
        "every figure below, peers included, was measured in that one run.",
        "Do not edit by hand: re-run the script.",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}",
        f"- python: {platform.python_implementation()} {platform.python_version()}",
        f"- mode: {'quick' if quick else 'full'}; total wall time {total_s:.0f} s",
        f"- load: each heading gives the 1-minute load average when that benchmark started (this machine has "
        f"{os.cpu_count()} CPUs; the benchmark's own processes count in it)",
        *(f"- {line}" for line in peer_status()),
        f"- plots: {plot_note}" if plot_note else "- plots: matplotlib " + _version("matplotlib"),
        "",
        "Ratios: `Nx <what>` is a ratio measured in this run; N > 1 means trio-hl is faster (throughputs are "
        "ours / theirs, latencies theirs / ours).  Goals say (met) or (MISSED) for this run's figure.",
        "",
    ]
    for res in results:
        load = "" if res.get("load") is None else f", load average {res['load']:.2f} at its start"
        lines.append(f"## {res['name']} ({res['wall_s']:.1f} s{load})")
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
        for png in plots.get(res["name"], []):
            rel = Path(os.path.relpath(png, path.parent)).as_posix()
            lines += ["", f"![{res['name']}: {png.stem}]({rel})"]
        lines.append("")
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (each benchmark's --quick)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (e.g. tracker wire)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per benchmark, seconds")
    parser.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    parser.add_argument("--plots", type=Path, default=HERE / "plots", help="directory for the PNG files")
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
    for res in results:
        for note in res["notes"]:
            print(f"{res['name']}: {note}")
    for line in peer_status():
        print(line)
    plots, plot_note = make_plots(results, args.plots)
    print(plot_note or f"plots: {', '.join(str(p) for ps in plots.values() for p in ps) or 'none'}")
    write_report(results, args.quick, total, args.report, plots, plot_note)
    print(f"\nwrote {args.report} ({total:.0f} s)")
    if not all(r["ok"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
