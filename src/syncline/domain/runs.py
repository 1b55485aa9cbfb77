"""Run outcomes and shard references: what the engine reports and the lifecycle records.

Pure types, shared by the engine (which produces outcomes), the run lifecycle (which records
them) and fan-out (which combines the outcomes of shards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncline.domain.enums import ResultClass, RunStatus


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as the engine reports it."""

    status: RunStatus
    result_class: ResultClass
    reason_code: str
    error_message: str = ""
    rows_synced: int = 0
    rows_failed: int = 0
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class ShardRef:
    """Which hash partition of a fan-out run this execution covers."""

    id: str
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"s{self.index + 1}of{self.count}"
