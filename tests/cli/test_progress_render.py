"""What ``--wait`` shows of a run's live summary: the phase and "N of M sent"."""

from __future__ import annotations

from rich.console import Console

from syncline.cli.render import progress_line, progress_view


def _text(run: dict[str, object]) -> str:
    console = Console(width=200, record=True)
    console.print(progress_view(run, 3.0))
    return console.export_text()


def test_the_live_view_says_phase_rows_read_and_sent_of_planned() -> None:
    run = {
        "id": "r1",
        "status": "running",
        "rows_synced": 0,
        "rows_failed": 0,
        "summary": {
            "phase": "loading",
            "rows_read": 20052,
            "added": 20052,
            "planned_total": 20052,
            "sent_total": 1200,
        },
    }
    assert "1,200 of 20,052 sent" in _text(run) and "loading" in _text(run)
    assert progress_line(run, 3.0) == (
        "run r1 running: loading, 20,052 read, 1,200 of 20,052 sent (3 s)"
    )


def test_a_queued_run_says_so_and_a_run_before_its_plan_has_no_total() -> None:
    queued = {"id": "r2", "status": "pending", "rows_synced": 0, "rows_failed": 0, "summary": {}}
    assert "queued" in _text(queued)
    reading = {**queued, "status": "running", "summary": {"phase": "extracting", "rows_read": 50}}
    assert progress_line(reading, 1.0) == "run r2 running: extracting, 50 read, 0 sent (1 s)"
