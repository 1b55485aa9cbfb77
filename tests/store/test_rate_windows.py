"""The shared rate budget on PostgreSQL: two limiters on one key, each with its own
connections, never grant more than the limit in any window between them."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from syncline.domain.rate_windows import Answer, Limit
from syncline.store.db import make_engine, upgrade
from syncline.store.rate_windows import PgRateWindows


def test_two_workers_on_one_key_never_exceed_the_limit_in_any_window(pg_database: str) -> None:
    url = pg_database.replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    limit, granted, lock = Limit(5, 0.5), [], threading.Lock()
    engines = [make_engine(url) for _ in range(2)]  # two workers: separate pools

    def worker(windows: PgRateWindows) -> None:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            grant = windows.take("hubspot:acct", limit)
            if grant.stamp is not None:
                with lock:
                    granted.append(grant.stamp)
            else:
                time.sleep(min(grant.wait, 0.05))

    try:
        threads = [threading.Thread(target=worker, args=(PgRateWindows(e),)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for e in engines:
            e.dispose()
    stamps = sorted(granted)
    worst = max(sum(1 for s in stamps if start <= s < start + limit.window) for start in stamps)
    assert worst <= limit.requests
    assert len(stamps) >= 3 * limit.requests  # and it kept granting as the window rolled


def test_the_learned_limit_and_retry_after_are_shared(pg_database: str) -> None:
    url = pg_database.replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    a_engine, b_engine = make_engine(url), make_engine(url)
    try:
        a, b = PgRateWindows(a_engine), PgRateWindows(b_engine)
        a.observe("k", used=1, limit=Limit(2, 30.0))  # one worker read the vendor's headers
        assert b.take("k", Limit(100, 10.0)).granted  # the other obeys the learned 2 / 30 s
        refused = b.take("k", Limit(100, 10.0))
        assert not refused.granted and 29.0 < refused.wait <= 30.0
        a.block("j", 3.0)
        assert 2.5 < b.take("j", Limit(100, 10.0)).wait <= 3.0
    finally:
        a_engine.dispose()
        b_engine.dispose()


def test_a_request_costs_one_transaction_its_answer_rides_on_the_next(pg_database: str) -> None:
    url = pg_database.replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    engine = make_engine(url)
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    try:
        windows = PgRateWindows(engine)
        first = windows.take("k", Limit(5, 10.0), hold=30.0)
        assert first.stamp is not None
        (held,) = _stamps(engine)
        assert held == first.stamp  # taken while in flight, for every worker
        commits.clear()
        second = windows.take("k", Limit(5, 10.0), Answer(first.stamp, age=0.0), hold=30.0)
        assert len(commits) == 1  # the answer and the next decision: one transaction
        assert second.stamp is not None
        answered, still_held = _stamps(engine)
        assert still_held == second.stamp and answered < first.stamp - 29.0  # moved to now
    finally:
        engine.dispose()


def _stamps(engine: sa.Engine) -> list[float]:
    with engine.connect() as conn:
        stamps = conn.execute(sa.text("SELECT stamps FROM rate_windows WHERE key = 'k'")).scalar()
    return sorted(float(s) for s in stamps)
