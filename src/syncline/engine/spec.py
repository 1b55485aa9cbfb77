"""What a run is about: the run and its sync, model, source and destination rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from syncline.engine.records import RecordWriter
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun


@dataclass
class RunSpec:
    """Detached rows, read once when a run starts: the engine never writes them."""

    run: SyncRun
    sync: Sync
    model: Model
    source: Source
    destination: Destination


def load_spec(sessions: sessionmaker[Session], run_id: str) -> RunSpec:
    """The spec of ``run_id`` from the metadata store; LookupError if any part is gone."""
    with sessions() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        sync = s.get(Sync, run.sync_id)
        if sync is None:
            raise LookupError(f"the sync of run {run_id} was deleted")
        model = s.get(Model, sync.model_id)
        destination = s.get(Destination, sync.destination_id)
        source = s.get(Source, model.source_id) if model else None
        if model is None or destination is None or source is None:
            raise LookupError("the sync's model, source or destination no longer exists")
        return RunSpec(run, sync, model, source, destination)


def record_writer(sessions: sessionmaker[Session], spec: RunSpec) -> RecordWriter:
    """Run records of ``spec``'s run, stored in the metadata store."""
    return RecordWriter(
        sessions, run_id=spec.run.id, sync_id=spec.sync.id, workspace_id=spec.sync.workspace_id
    )
