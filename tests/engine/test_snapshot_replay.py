"""Folding snapshot segments: each key's newest row, whatever the segments hold."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from syncline.engine.snapshot.replay import fold_segments


def _segment(rows: list[tuple[str, int, bool]]) -> pa.Table:
    return pa.table(
        {
            "pk": pa.array([r[0] for r in rows], pa.string()),
            "row_hash": pa.array([r[1] for r in rows], pa.uint64()),
            "deleted": pa.array([r[2] for r in rows], pa.bool_()),
        }
    )


def _reference(segments: list[list[tuple[str, int, bool]]], seqs: list[int]) -> dict[str, int]:
    state: dict[str, tuple[int, bool]] = {}
    for i in sorted(range(len(segments)), key=lambda i: seqs[i]):
        for pk, h, deleted in segments[i]:
            state[pk] = (h, deleted)
    return {pk: h for pk, (h, deleted) in state.items() if not deleted}


def _fold(segments: list[list[tuple[str, int, bool]]], seqs: list[int]) -> dict[str, int]:
    con = duckdb.connect()
    fold_segments(con, [_segment(s) for s in segments], seqs, into="snap")
    rows = con.execute("SELECT pk, row_hash FROM snap").fetchall()
    assert len(rows) == len({pk for pk, _ in rows}), "a key twice in the folded snapshot"
    return dict(rows)


@pytest.mark.parametrize("seed", range(12))
def test_folding_matches_replaying_every_segment_in_order(seed: int) -> None:
    rnd = random.Random(seed)
    keys = [str(k) for k in range(200)]
    segments, seqs = [], []
    for n in range(rnd.randint(1, 5)):
        chosen = rnd.sample(keys, rnd.randint(0, 120 if n == 0 else 40))
        segments.append([(k, rnd.getrandbits(63), rnd.random() < 0.2) for k in chosen])
        seqs.append(n * 3 + 1)
    order = list(range(len(segments)))
    rnd.shuffle(order)  # the store's listing order must not matter
    shuffled, shuffled_seqs = [segments[i] for i in order], [seqs[i] for i in order]
    assert _fold(shuffled, shuffled_seqs) == _reference(segments, seqs)


def test_a_key_deleted_in_the_base_and_added_again_later_is_kept() -> None:
    base = [("a", 1, False), ("b", 2, True)]
    later = [("b", 5, False), ("a", 9, True)]
    assert _fold([base, later], [1, 2]) == {"b": 5}


def test_a_newer_delta_wins_over_an_older_one() -> None:
    base = [("a", 1, False)]
    assert _fold([base, [("a", 2, False)], [("a", 3, False)]], [1, 2, 3]) == {"a": 3}
    assert _fold([base, [("a", 3, False)], [("a", 2, False)]], [1, 3, 2]) == {"a": 3}


def test_a_lone_segment_folds_to_its_live_rows() -> None:
    assert _fold([[("a", 1, False), ("b", 2, True)]], [7]) == {"a": 1}
