"""The data-plane contenders of scenarios 1-3, each writing its own table of one database.

Every contender has ``reset()`` (fresh destination table and fresh state: the next run is an
initial load) and ``run(mode)`` (one timed sync of the model as it is now). Syncline runs
through the product path (``syncline``, ``syncline-full``: a real server, REST trigger,
polling) and through the engine alone (``syncline-engine``); ``copy`` is the physical limit;
``dlt`` and ``drt`` are the peers in their own venvs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench import peers
from bench.core import Attempt, run_child
from bench.data import COLUMNS, create_table
from bench.product import Server


class Contender:
    def __init__(self, name: str, work: Path, model: Path, dsn: str, rows: int) -> None:
        self.name, self.model, self.dsn, self.rows = name, model, dsn, rows
        self.table = name.replace("-", "_")
        self.work = work / self.table
        self.resets = 0

    def reset(self) -> None:
        create_table(self.dsn, self.table)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.resets += 1

    def run(self) -> Attempt:
        raise NotImplementedError


class Copy(Contender):
    def run(self) -> Attempt:
        argv = [
            sys.executable,
            "-m",
            "bench.child",
            "copy",
            "--model",
            str(self.model),
            "--dsn",
            self.dsn,
            "--table",
            self.table,
        ]
        out, wall, rss = run_child(argv)
        return Attempt(out["seconds"], self.rows, out["sent"], rss, {"wall_s": round(wall, 2)})


class Engine(Contender):
    def run(self) -> Attempt:
        argv = [
            sys.executable,
            "-m",
            "bench.child",
            "engine",
            "--data",
            str(self.work),
            "--model",
            str(self.model),
            "--dsn",
            self.dsn,
            "--table",
            self.table,
        ]
        out, wall, rss = run_child(argv)
        return Attempt(out["seconds"], self.rows, out["sent"], rss, {"wall_s": round(wall, 2)})


class Product(Contender):
    """Syncline as a user runs it: a sync created over REST, triggered, polled."""

    def __init__(
        self, server: Server, name: str, work: Path, model: Path, dsn: str, rows: int
    ) -> None:
        super().__init__(name, work, model, dsn, rows)
        self.server, self.sync_id = server, ""

    def reset(self) -> None:
        super().reset()
        self.sync_id = self.server.pg_sync(
            f"{self.table}-{self.resets}", self.model, self.dsn, self.table, COLUMNS
        )

    def run(self) -> Attempt:
        return self._attempt(self.server.run(self.sync_id, mode="incremental"))

    def _attempt(self, run: dict[str, object]) -> Attempt:
        return Attempt(
            float(run["bench_seconds"]),  # type: ignore[arg-type]
            self.rows,
            int(run["rows_synced"]),  # type: ignore[call-overload]
            float(run["bench_peak_rss_mb"]),  # type: ignore[arg-type]
            {"run_id": run["id"]},
        )


class ProductFull(Product):
    """The same sync, but every run after the first is a full resend."""

    _loaded = False

    def run(self) -> Attempt:
        mode = "full" if self._loaded else "incremental"
        self._loaded = True
        return self._attempt(self.server.run(self.sync_id, mode=mode))

    def reset(self) -> None:
        super().reset()
        self._loaded = False


class Dlt(Contender):
    def run(self) -> Attempt:
        argv = [
            str(peers.ensure("dlt")),
            peers.script("dlt"),
            "--model",
            str(self.model),
            "--dsn",
            self.dsn,
            "--table",
            self.table,
            "--pipelines-dir",
            str(self.work / "pipelines"),
        ]
        out, wall, rss = run_child(argv, cwd=self.work)
        return Attempt(out["seconds"], self.rows, out["sent"], rss, {"wall_s": round(wall, 2)})


class Drt(Contender):
    def run(self) -> Attempt:
        argv = [
            str(peers.ensure("drt")),
            peers.script("drt"),
            "--model",
            str(self.model),
            "--dsn",
            self.dsn,
            "--table",
            self.table,
            "--work",
            str(self.work),
        ]
        out, wall, rss = run_child(argv)
        return Attempt(out["seconds"], self.rows, out["sent"], rss, {"wall_s": round(wall, 2)})
