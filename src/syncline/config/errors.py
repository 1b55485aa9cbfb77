"""Errors of config as code, each pointing at the file and line a user has to fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where an object (or a problem) is written: a file and a 1-based line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class ConfigError(Exception):
    """One or more problems with the files or with applying them, all reported at once.

    Every message starts with its origin (``file:line``) when there is one, so a CI log is
    enough to find what to change.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
