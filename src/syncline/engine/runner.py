"""One run, start to end, as named stages: extract -> diff -> plan -> map -> load -> commit.

The runner is handed a run that an executor already claimed (status ``running``) and the
ports of this execution (``EngineEnv``): it reads the run's spec through them, so any worker
on any machine can run or resume it, and it reports to the run lifecycle only through the
``RunControl`` it was given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncline.connectors.base import Destination, DestinationError, Interrupted, RunInfo
from syncline.domain.enums import RunMode, SyncMode
from syncline.domain.jsonsafe import json_safe
from syncline.domain.runs import RunOutcome, ShardRef
from syncline.engine.commit import finish_snapshot
from syncline.engine.diff import Differ
from syncline.engine.extract import prepare_diff
from syncline.engine.lanes import Lane, load_lanes, spreads
from syncline.engine.load import BatchLoader, batch_size, loader_for, retry_budget, send_plan
from syncline.engine.outcomes import (
    NOT_AN_OUTCOME,
    Ending,
    completed,
    crashed,
    ending_of,
    spec_missing,
)
from syncline.engine.plan import Plan, check_delete_guard, plan_for, planned_counts
from syncline.engine.ports import EngineEnv, RunCancelled
from syncline.engine.progress import LiveProgress, counting
from syncline.engine.spec import RunSpec
from syncline.engine.watch import StopWatcher

log = logging.getLogger(__name__)


def execute_run(env: EngineEnv, run_id: str, *, shard: ShardRef | None = None) -> RunOutcome:
    """Execute a claimed run (or one shard of it) and return how it ended.

    The caller records the outcome: on the run, or on the shard for a fan-out run.
    WorkerStopping and ExecutionLost propagate: they are not outcomes.
    """
    started = time.monotonic()
    execution = uuid.uuid4().hex[:12]  # this attempt at the run (or shard), never reused
    work_dir = env.work_dir / run_id / (f"{shard.label}-{execution}" if shard else execution)
    try:
        spec = env.specs(run_id)
    except LookupError as exc:
        return _outcome(spec_missing(exc))
    runner = _Runner(env, spec, work_dir, shard, execution, started)
    try:
        return runner.run()
    except NOT_AN_OUTCOME:
        raise
    except Exception as exc:
        ending = runner.stopped() or ending_of(exc)
        if ending is None:
            log.exception("run %s crashed", run_id)
            ending = crashed(exc)
        return runner.outcome(ending)
    finally:
        runner.close()
        shutil.rmtree(work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            work_dir.parent.rmdir()  # only if no other execution of the run works there


def _outcome(e: Ending, synced: int = 0, failed: int = 0, summary: Any = None) -> RunOutcome:
    return e.outcome(synced, failed, summary)


class _Runner:
    def __init__(
        self,
        env: EngineEnv,
        spec: RunSpec,
        work_dir: Path,
        shard: ShardRef | None,
        execution: str,
        started: float,
    ) -> None:
        self.env, self.spec, self.work_dir, self.shard = env, spec, work_dir, shard
        self.execution, self.started = execution, started
        self.summary: dict[str, Any] = {}
        # The live fields (phase, rows read, planned, sent), saved by a side thread.
        self.live = LiveProgress(env.control)
        self.records = env.records(spec)
        self.rejected = 0
        self.loader: BatchLoader | None = None
        self.differ: Differ | None = None
        self._closers: list[Callable[[], None]] = []
        # The run's stop signal (RunInfo.stop): set by the watcher the moment the control
        # says the run must stop, so waits and writes in progress end at once.
        self.stop = threading.Event()
        self._watcher = StopWatcher(env.control, self.stop)
        self._closers.append(self._watcher.close)
        self._closers.append(self.live.close)
        self.budget = retry_budget(spec.sync.config)

    def stopped(self) -> Ending | None:
        """Whatever failed once the run was asked to stop (an interrupted query, a cancelled
        source read) ends as the stop: the control says which (RunCancelled, or raises
        ExecutionLost / WorkerStopping, which are not outcomes)."""
        if not self.stop.is_set():
            return None
        try:
            self.env.control.before_batch()
        except RunCancelled as exc:
            return ending_of(exc)
        return ending_of(RunCancelled())

    def close(self) -> None:
        for fn in reversed(self._closers):
            try:
                fn()
            except Exception:  # closing must not hide the run's outcome
                log.exception("closing a connector failed")

    def outcome(self, ending: Ending) -> RunOutcome:
        synced = self.loader.stats.acked_total if self.loader else 0
        self._fill_summary()
        self.summary["duration_seconds"] = round(time.monotonic() - self.started, 3)
        self.live.restart_batch()  # an interrupted batch counts what was committed of it
        summary = self.live.merged(json_safe(self.summary), phase="done")
        return _outcome(ending, synced, self._failed(), summary)

    def _failed(self) -> int:
        return self.rejected + (self.loader.stats.failed_total if self.loader else 0)

    def _fill_summary(self) -> None:
        if self.differ:
            self.summary.update(self.differ.counts.as_dict())
        if self.loader:
            self.summary.update(self.loader.stats.as_summary())

    def _base(self) -> tuple[int, int, dict[str, Any]]:
        """The committed counts so far, for the live progress."""
        self._fill_summary()
        synced = self.loader.stats.acked_total if self.loader else 0
        return synced, self._failed(), json_safe(self.summary)

    def _phase(self, name: str) -> None:
        self.live.phase(name, self._base())

    def _between_batches(self) -> None:
        self.env.control.before_batch()
        if self.loader and self.loader.stats.batches:
            # On lanes, the batches in flight keep their counts (``_batch_settled`` resets).
            lanes = len(self.loader.lanes) > 1
            self.live.publish(self._base(), settled=() if lanes else None)

    def _batch_settled(self, lane: int) -> None:
        """A lane's batch is committed: its counts move from in flight to the run's."""
        self.live.publish(self._base(), settled=(lane,))

    def run(self) -> RunOutcome:
        spec, sync, env = self.spec, self.spec.sync, self.env
        mode = SyncMode(sync.sync_mode)
        plan = plan_for(mode)
        full = spec.run.run_mode == RunMode.FULL.value
        destination = env.destinations(spec.destination.type, env.decrypt(spec.destination.config))
        self._closers.append(destination.close)
        self._between_batches()
        self.live.start()
        self._phase("extracting")
        prepared = prepare_diff(
            dataclasses.replace(env, sources=counting(env.sources, self.live)),
            sync=sync,
            model=spec.model,
            source_row=spec.source,
            full=full,
            work_dir=self.work_dir,
            closers=self._closers,
            shard=self.shard,
            watch=self._watcher,
            budget=self.budget,
        )
        self.differ = differ = prepared.differ
        mapping = prepared.mapping
        self.rejected = prepared.counts.rejected_total
        self.live.set_planned(planned_counts(plan, prepared.counts))
        self._phase("diffing")  # the rejected rows are recorded, then loading starts
        for chunk in differ.rejected_rows(mapping):
            self.records.write((pk, "reject", cls, msg, payload) for pk, cls, msg, payload in chunk)
        if plan.deletes:
            assert prepared.guard is not None
            check_delete_guard(sync.config, *prepared.guard)

        run = RunInfo(
            sync_id=sync.id,
            run_id=spec.run.id,
            sync_mode=mode,
            key_field=mapping.key_field,
            fields=mapping.destination_fields,
            work_dir=str(self.work_dir),
            part=self.shard.label if self.shard else "",
            execution=self.execution,
            stop=self.stop,
            on_sent=self.live.add_sent,
            budget=self.budget,
        )
        destination.begin(run)
        lanes = self._open_lanes(destination, run, plan)
        self.loader = loader = loader_for(
            destination,
            sync,
            snapshots=env.snapshots,
            records=self.records,
            run_id=spec.run.id,
            key_field=mapping.key_field,
            hash_probe=differ.probe,
            between_batches=self._between_batches,
            run=run,
            attempt_started=self.live.restart_batch,
            lanes=lanes,
            batch_settled=self._batch_settled,
        )
        self._phase("loading")
        rows = batch_size(destination.capabilities.max_batch_rows, sync.config, env.batch_rows)
        try:
            send_plan(loader, differ, mapping, plan, batch_rows=rows)
        except Interrupted:
            # The destination stopped mid-batch; what it confirmed is committed. The control
            # says why (RunCancelled, ExecutionLost, WorkerStopping).
            self.env.control.before_batch()
            raise RunCancelled("cancelled") from None
        self._phase("committing")
        env.control.before_commit()  # a worker that lost the run must not compact or move the mark
        finish_snapshot(
            env.snapshots,
            env.control,
            sync_id=sync.id,
            run_id=spec.run.id,
            prepared=prepared,
            loader=loader,
            full=full,
            in_shard=self.shard is not None,
        )
        limit = (sync.config or {}).get("max_rejected_pct")
        # The model's rows already in step count: the same few rejects on a rerun are as
        # partial as they were the first time (docs/operations.md, "What happens when").
        attempted = self.rejected + sum(loader.stats.sent.values()) + prepared.counts.unchanged
        return self.outcome(
            completed(
                self._failed(),
                attempted=attempted,
                max_rejected_pct=float(limit) if limit is not None else None,
            )
        )

    def _open_lanes(self, first: Destination, run: RunInfo, plan: Plan) -> list[Lane]:
        """The run's load lanes: ``first`` and, where the destination allows several writers
        and the plan has idempotent batches to spread, more instances of the destination,
        each its own session, each begun before any batch is written."""
        spec, sync = self.spec, self.spec.sync
        count = load_lanes(first.capabilities.max_writers, sync.config)
        spreadable = plan.deletes or any(spreads(op) for op, _ in plan.sends)
        lanes = [Lane(first, run.budget)]
        if count < 2 or not spreadable:
            return lanes
        config = self.env.decrypt(spec.destination.config)
        for index in range(1, count):
            destination = self.env.destinations(spec.destination.type, config)
            self._closers.append(destination.close)
            budget = run.budget.lane()
            on_sent = functools.partial(self.live.add_sent, lane=index)
            try:
                destination.begin(dataclasses.replace(run, budget=budget, on_sent=on_sent))
            except DestinationError as exc:
                # Lane 0 began with the same settings: this is a limit (connections), and
                # extra lanes only make the load faster. Load on the lanes that began.
                log.warning("load lane %d could not begin (%s); loading on %d", index, exc, index)
                break
            lanes.append(Lane(destination, budget))
        return lanes
