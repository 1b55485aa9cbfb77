"""Pull the worked examples out of the docs, so the docs cannot drift from what runs.

Conventions in the markdown:

* a fenced block whose first line is ``# path: some/file`` (or ``-- path: ...`` in SQL) is a
  file of the example, written as shown (header line included);
* a fenced block right after ``<!-- example: NAME -->`` is the block called NAME (commands to
  read variables from, or the output expected).
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"(?:<!-- example: (?P<name>[\w-]+) -->\n)?```[\w-]*\n(?P<body>.*?)```", re.S)
_PATH = re.compile(r"(?:#|--) path: (\S+)\n")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def blocks(doc: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(files, named)``: the example's files by path, and the named blocks."""
    files: dict[str, str] = {}
    named: dict[str, str] = {}
    for match in _FENCE.finditer((DOCS / doc).read_text(encoding="utf-8")):
        body = match.group("body")
        header = _PATH.match(body)
        if header:
            files[header.group(1)] = body
        if match.group("name"):
            named[match.group("name")] = body
    return files, named


def write_files(files: dict[str, str], root: Path) -> None:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")


def exports(block: str) -> dict[str, str]:
    """The ``export NAME=value`` lines of a shell block."""
    return dict(re.findall(r"^export (\w+)=(\S+)$", block, re.M))


def normalise(text: str) -> str:
    """Ids differ on every run: compare them as a placeholder."""
    return _UUID.sub("<id>", text).strip()
