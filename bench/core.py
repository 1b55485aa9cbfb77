"""What every scenario shares: child processes with their peak RSS, alternation, the report.

Each timed attempt runs in a child process so its peak RSS is its own: ``VmHWM`` of
``/proc/PID/status`` after the child's exec, never ``ru_maxrss`` alone (Linux carries the
parent's RSS at fork into it, so a child of a parent that ran a large setup looked as large as
the setup). A long-lived server's peak is read the same way after it is reset through
``clear_refs``. Contenders run in rounds whose order rotates, so drift in the
machine's load spreads over all of them instead of favouring the one that ran first.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("SYNCLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


class BenchError(RuntimeError):
    """A contender failed in a way that makes its figures meaningless."""


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600,
) -> tuple[dict[str, Any], float, float]:
    """Run ``argv``; (the JSON its last stdout line printed, wall seconds, peak RSS MiB).

    The peak RSS is what the child reports as ``peak_rss_mb`` (its own ``VmHWM``), else the
    highest ``VmHWM`` read while it ran its own program (any program, a peer's CLI too), else
    (a child gone before the first reading) ``ru_maxrss`` from ``wait4``.
    """
    env = child_env(env)
    polled = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        deadline = t0 + timeout
        cmdline = "\0".join(argv)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            polled = max(polled, _peak_after_exec(proc.pid, cmdline))
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise BenchError(f"{' '.join(argv[:4])} timed out after {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])} exited {proc.returncode}: {stderr[-3000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{' '.join(argv[:4])} printed no JSON: {stdout[-800:]} {stderr[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    reported = result.get("peak_rss_mb")
    if isinstance(reported, int | float) and reported > 0:
        return result, wall, round(float(reported), 1)
    return result, wall, polled or round(usage.ru_maxrss / 1024, 1)


def _peak_after_exec(pid: int, cmdline: str) -> float:
    """``VmHWM`` of ``pid`` once it runs ``cmdline`` (before its exec it is the parent's copy)."""
    try:
        if Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0") != cmdline:
            return 0.0
        return process_peak_mb(pid)
    except OSError:
        return 0.0


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ``bench`` importable whatever the working directory."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def peak_rss_mb() -> float:
    """This process's peak RSS (children report it in their JSON as ``peak_rss_mb``): its own
    ``VmHWM``, which starts afresh at exec, unlike ``ru_maxrss``."""
    with contextlib.suppress(OSError):
        return process_peak_mb(os.getpid())
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak(pid: int) -> None:
    """Reset a running process's peak RSS (``VmHWM``) so the next reading is one attempt's."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def process_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@dataclass
class Attempt:
    """One timed run of one contender."""

    seconds: float
    rows: int = 0  # rows the attempt processed (for rows/s)
    sent: int | None = None  # records it wrote to the destination, when it says
    peak_rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


Contender = Callable[[int], Attempt]  # round number -> one attempt


def alternate(
    contenders: dict[str, Contender],
    repeat: int,
    *,
    between: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[Attempt]]:
    """Run every contender ``repeat`` times, the order rotating each round."""
    names = list(contenders)
    out: dict[str, list[Attempt]] = {n: [] for n in names}
    for r in range(repeat):
        if between is not None:
            between(r)
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            attempt = contenders[name](r)
            out[name].append(attempt)
            if log:
                log(f"round {r + 1}/{repeat} {name}: {attempt.seconds:.3f} s {attempt.extra}")
    return out


def summarize(attempts: list[Attempt]) -> dict[str, Any]:
    secs = [a.seconds for a in attempts]
    median = statistics.median(secs)
    rows = attempts[-1].rows
    return {
        "runs": len(secs),
        "median_s": round(median, 3),
        "min_s": round(min(secs), 3),
        "max_s": round(max(secs), 3),
        "rows": rows,
        "rows_per_s": round(rows / median) if median > 0 and rows else None,
        "sent": [a.sent for a in attempts],
        "peak_rss_mb": max(a.peak_rss_mb for a in attempts),
        "attempts": [
            {
                "seconds": round(a.seconds, 3),
                "sent": a.sent,
                "peak_rss_mb": a.peak_rss_mb,
                **a.extra,
            }
            for a in attempts
        ],
    }


def ratios(summary: dict[str, dict[str, Any]], ours: str) -> dict[str, float]:
    """How many times faster ``ours`` is than each other contender (their median / ours)."""
    base = summary[ours]["median_s"]
    return {
        name: round(s["median_s"] / base, 2)
        for name, s in summary.items()
        if name != ours and base > 0
    }


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "platform": platform.platform(),
    }


def write_report(
    scenario: str,
    params: dict[str, Any],
    sections: dict[str, dict[str, Any]],
    *,
    notes: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``<scenario>-<timestamp>.json`` and ``.md``; each section is a table of contenders.

    A section is ``{"contenders": {name: summary}, "ours": name, ...}`` or free-form
    ``{"table": [row dicts]}``.
    """
    results = Path(os.environ.get("SYNCLINE_BENCH_RESULTS", ROOT / "bench" / "results"))
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3] + "Z"  # to the millisecond
    base = results / f"{scenario}-{stamp}"
    doc = {
        "scenario": scenario,
        "at": stamp,
        "params": params,
        "machine": machine(),
        "sections": sections,
        "notes": notes or [],
    }
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(doc, indent=2, default=str))
    md = [f"# {scenario} ({stamp})", "", f"params: `{json.dumps(params)}`  ", ""]
    md.append(f"machine: `{json.dumps(doc['machine'])}`")
    for title, section in sections.items():
        md += ["", f"## {title}", ""]
        if "contenders" in section:
            md += _contender_table(section)
        if "table" in section:
            md += ["", *_table(section["table"])]
    if notes:
        md += ["", *[f"* {n}" for n in notes]]
    md_path = base.with_suffix(".md")
    md_path.write_text("\n".join(md) + "\n")
    return md_path, json_path


def _contender_table(section: dict[str, Any]) -> list[str]:
    ours = section.get("ours")
    summary: dict[str, dict[str, Any]] = section["contenders"]
    rat = ratios(summary, ours) if ours in summary else {}
    lines = [
        "| contender | median s | min s | max s | rows/s | sent | peak RSS MB | "
        f"{ours or 'ours'} faster by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        ratio = f"{rat[name]}x" if name in rat else "—"
        sent = "/".join(str(x) for x in s["sent"]) if any(x is not None for x in s["sent"]) else "—"
        rps = f"{s['rows_per_s']:,}" if s["rows_per_s"] else "—"
        lines.append(
            f"| {name} | {s['median_s']} | {s['min_s']} | {s['max_s']} | {rps} | {sent} | "
            f"{s['peak_rss_mb']} | {ratio} |"
        )
    return lines


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return lines


def python() -> str:
    return sys.executable
