"""The file root: the one directory file destinations may write in.

A destination's ``path`` is resolved (symlinks followed) against the root: a relative path is
taken inside it, an absolute path must land inside it, and ``..`` cannot climb out. Syncline's
own data directory, secret key and metadata database are never a target, not even when the
root contains them; a root *inside* the data directory (the default, ``<data_dir>/files``) is
fine.

The root is ``SYNCLINE_FILE_ROOT`` (default ``<SYNCLINE_DATA_DIR>/files``). Connectors cannot
read the settings, so ``syncline.bootstrap`` hands them to :func:`configure_file_root`; a
process that never ran it falls back to the same environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT_ENV", "FileRoot", "configure_file_root", "current_file_root"]

ROOT_ENV = "SYNCLINE_FILE_ROOT"


@dataclass(frozen=True)
class FileRoot:
    """The root and the paths no file destination may touch (all resolved)."""

    root: Path
    protected: tuple[Path, ...] = ()

    @classmethod
    def of(cls, root: Path, protected: Iterable[Path] = ()) -> FileRoot:
        return cls(root.expanduser().resolve(), tuple(p.expanduser().resolve() for p in protected))

    @classmethod
    def from_env(cls) -> FileRoot:
        data_dir = Path(os.environ.get("SYNCLINE_DATA_DIR") or ".syncline")
        root = os.environ.get(ROOT_ENV)
        return cls.of(Path(root) if root else data_dir / "files", [data_dir])

    def resolve(self, path: str) -> Path:
        """Where ``path`` points, inside the root.

        Raises:
            ValueError: it points outside the root, or at Syncline's own files.
        """
        if not path.strip():
            raise ValueError("path must name a directory")
        target = (self.root / Path(path).expanduser()).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(
                f"path {path!r} is outside the file root {self.root} ({ROOT_ENV}); "
                "use a path inside it (a relative path is taken inside it)"
            )
        for kept in self.protected:
            inside_kept = target.is_relative_to(kept) and not (
                self.root.is_relative_to(kept) and self.root != kept
            )
            if target == kept or kept.is_relative_to(target) or inside_kept:
                raise ValueError(
                    f"path {path!r} would write into Syncline's own data ({kept}); "
                    "choose another directory"
                )
        return target


_configured: FileRoot | None = None


def configure_file_root(root: FileRoot | None) -> None:
    """Set the process's file root (``None``: back to the environment's). Called by bootstrap."""
    global _configured
    _configured = root


def current_file_root() -> FileRoot:
    """The configured file root, else the one the environment describes."""
    return _configured if _configured is not None else FileRoot.from_env()
