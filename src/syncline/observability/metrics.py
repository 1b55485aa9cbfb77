"""Prometheus metrics: the counters a run's transitions feed and the gauges read at scrape.

Counters and histograms live in the process that changes a run (the worker), so under
procrastinate workers set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess
mode) for every process of a host and the API's ``/metrics`` adds them all up. The queue
gauges are read from the metadata store at each scrape (:class:`StoreCollector`), so they
are right whichever process answers. docs/operations.md has the scrape config.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus
from syncline.runs import hooks
from syncline.store.tables import SyncRun

RUNS = Counter(
    "syncline_runs", "Runs that reached a status, by result class.", ["status", "result_class"]
)
RECORDS = Counter(
    "syncline_records",
    "Records of ended runs by outcome (sent, acknowledged, rejected), rejected by error class.",
    ["outcome", "error_class"],
)
RUN_SECONDS = Histogram(
    "syncline_run_duration_seconds",
    "Wall time of an ended run, from start to end.",
    ["status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
SCHEDULER_LAG = Gauge(
    "syncline_scheduler_lag_seconds",
    "How late the last scheduled run was created after its slot.",
    multiprocess_mode="mostrecent",
)
ALERTS = Counter(
    "syncline_alerts", "Alert deliveries by channel type and outcome.", ["channel_type", "outcome"]
)
RUN_LOGS = Counter(
    "syncline_warehouse_run_logs",
    "Run log writes into the source warehouse, by source type and outcome (written, failed).",
    ["source_type", "outcome"],
)

log = logging.getLogger(__name__)
_TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}


def alert_delivered(channel_type: str, *, ok: bool) -> None:
    """For the alerts package: one delivery attempt's outcome (sent or failed)."""
    ALERTS.labels(channel_type, "sent" if ok else "failed").inc()


def run_log_written(source_type: str, *, ok: bool) -> None:
    """For the run log writer: one attempt to write a run into its warehouse."""
    RUN_LOGS.labels(source_type, "written" if ok else "failed").inc()


def scheduler_lag(slot: datetime, now: datetime) -> None:
    """For the scheduler: a run for ``slot`` was created at ``now``."""
    SCHEDULER_LAG.set(max(0.0, (now - slot).total_seconds()))


def on_transition(_s: Session, run: SyncRun, _from: RunStatus, to_status: RunStatus) -> None:
    """The run hook: count the run's new status, and an ended run's records and duration.

    Never raises: a metric must not roll back the status change it counts.
    """
    try:
        if to_status not in _TERMINAL:
            RUNS.labels(to_status.value, "").inc()
            return
        RUNS.labels(to_status.value, run.result_class or "").inc()
        if run.started_at is not None and run.completed_at is not None:
            seconds = (run.completed_at - run.started_at).total_seconds()
            RUN_SECONDS.labels(to_status.value).observe(seconds)
        _count_records(run.summary or {})
    except Exception:
        log.exception("run metrics not counted for %s", run.id)


def _count_records(summary: dict[str, Any]) -> None:
    for outcome in ("sent", "acknowledged"):  # {operation: count}
        n = _total(summary.get(outcome))
        if n:
            RECORDS.labels(outcome, "").inc(n)
    for key in ("rejected", "destination_rejected"):  # validation, then destination classes
        by_class = summary.get(key)
        if isinstance(by_class, dict):
            for error_class, n in by_class.items():
                if isinstance(n, int) and n:
                    RECORDS.labels("rejected", str(error_class)).inc(n)


def _total(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return sum(v for v in value.values() if isinstance(v, int))
    return 0


def install() -> None:
    """Register the run hook (called by the composition root; idempotent)."""
    hooks.register(on_transition)


class StoreCollector(Collector):
    """Queue depth and the oldest pending run's age, read from the store at scrape time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self._sessions() as s:
            rows = s.execute(
                sa.select(SyncRun.status, sa.func.count(), sa.func.min(SyncRun.created_at))
                .where(SyncRun.status.in_([RunStatus.PENDING.value, RunStatus.RUNNING.value]))
                .group_by(SyncRun.status)
            ).all()
        depth = GaugeMetricFamily(
            "syncline_queue_depth", "Runs waiting or running, by status.", labels=["status"]
        )
        found = {status: (n, oldest) for status, n, oldest in rows}
        for status in (RunStatus.PENDING.value, RunStatus.RUNNING.value):
            depth.add_metric([status], found.get(status, (0, None))[0])
        yield depth
        oldest = found.get(RunStatus.PENDING.value, (0, None))[1]
        age = 0.0
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        yield GaugeMetricFamily(
            "syncline_oldest_pending_run_age_seconds",
            "Age of the oldest run still waiting for a worker (0 when none waits).",
            value=age,
        )


def render(sessions: sessionmaker[Session]) -> tuple[bytes, str]:
    """The text exposition: this process's (or, multiprocess, every process's) metrics and
    the store gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    store = CollectorRegistry()
    store.register(StoreCollector(sessions))
    return own + generate_latest(store), CONTENT_TYPE_LATEST
