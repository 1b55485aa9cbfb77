"""A fan-out run's live summary from its shards': the earliest open phase, the sums."""

from __future__ import annotations

from syncline.domain.phases import PHASES, ended_summary, fan_out_summary


def test_a_fan_out_run_is_as_far_as_its_slowest_open_shard() -> None:
    shards = [
        ("completed", {"phase": "done", "rows_read": 100, "planned_total": 40, "sent_total": 40}),
        ("running", {"phase": "loading", "rows_read": 100, "planned_total": 60, "sent_total": 7}),
        ("pending", {}),
    ]
    out = fan_out_summary(shards)
    assert out == {"phase": "queued", "shards": 3, "rows_read": 200, "sent_total": 47}
    shards[2] = ("running", {"phase": "diffing", "rows_read": 100})
    assert fan_out_summary(shards)["phase"] == "diffing"
    shards[2] = ("running", {"phase": "loading", "rows_read": 100, "planned_total": 5})
    out = fan_out_summary(shards)
    assert (out["phase"], out["planned_total"]) == ("loading", 105)
    done = [(s, {**(m or {}), "phase": "done"}) for s, m in [("completed", {})] * 2]
    assert fan_out_summary(done)["phase"] == "committing"  # the finaliser is next
    assert set(PHASES) == {"queued", "extracting", "diffing", "loading", "committing", "done"}
    assert ended_summary({"phase": "loading", "sent_total": 3}) == {
        "phase": "done",
        "sent_total": 3,
    }
