"""Stable integer ids for the compatibility API, mapped to Syncline's UUIDs.

The vendor's ids are integers and its typed clients (``sync_id: int``) insist on it. Each
object shown through this API gets one row in ``compat_ids`` the first time, and keeps its
integer for good; integers are accepted back and resolved within the caller's workspace by the
services, so an integer never opens another workspace's object.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncline.services.errors import NotFoundError
from syncline.store.tables import CompatId

SYNC = "sync"
RUN = "sync_run"
SOURCE = "source"
DESTINATION = "destination"
MODEL = "model"


def ints(session: Session, kind: str, uuids: Iterable[str]) -> dict[str, int]:
    """The integer of every uuid (created when missing, committed at once)."""
    wanted = list(dict.fromkeys(uuids))
    if not wanted:
        return {}
    found = _existing(session, kind, wanted)
    for uuid in wanted:
        if uuid in found:
            continue
        try:
            with session.begin_nested():
                session.add(CompatId(kind=kind, uuid=uuid))
        except IntegrityError:
            pass  # another request numbered it meanwhile; read it back below
    session.commit()
    return _existing(session, kind, wanted)


def int_of(session: Session, kind: str, uuid: str) -> int:
    """The integer of one uuid."""
    return ints(session, kind, [uuid])[uuid]


def maybe_int(session: Session, kind: str, uuid: str | None) -> int | None:
    return None if uuid is None else int_of(session, kind, uuid)


def uuid_of(session: Session, kind: str, number: int, *, label: str) -> str:
    """The uuid an integer stands for, or NotFoundError(label)."""
    uuid = session.scalar(
        sa.select(CompatId.uuid).where(CompatId.kind == kind, CompatId.id == number)
    )
    if uuid is None:
        raise NotFoundError(label)
    return uuid


def _existing(session: Session, kind: str, uuids: list[str]) -> dict[str, int]:
    rows = session.execute(
        sa.select(CompatId.uuid, CompatId.id).where(CompatId.kind == kind, CompatId.uuid.in_(uuids))
    ).all()
    return {u: int(i) for u, i in rows}
