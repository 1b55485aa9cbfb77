"""Process settings: one pydantic-settings class, environment prefix ``SYNCLINE_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a Syncline process reads from its environment.

    The defaults run fully embedded: a SQLite metadata store and file snapshots inside
    ``data_dir``, so a newcomer needs no server at all.
    """

    model_config = SettingsConfigDict(env_prefix="SYNCLINE_", extra="ignore")

    data_dir: Path = Field(default=Path(".syncline"))
    database_url: str | None = None
    secret_key: str | None = None
    # HMAC key of API token hashes; unset: data_dir/token_pepper.key, created on first start.
    token_pepper: str | None = None
    # The API edge (docs/security.md): request size and shape, rate limits, dashboard sessions.
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    # /metrics: None serves it without auth (scrape from a private network); set, a scraper
    # sends ``Authorization: Bearer <metrics_token>``.
    metrics_token: str | None = None
    rate_limit_enabled: bool = True
    rate_limit_per_token: str = "1200/minute"
    rate_limit_per_ip: str = "2400/minute"
    rate_limit_auth_failures: str = "20/minute"
    ui_session_ttl: float = 8 * 3600.0
    secret_key_file: Path | None = None  # default: see security/keys.py
    # The metadata store's connection pool (PostgreSQL and SQLite alike), per process.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)
    # A pooled connection idle this long is pinged before use (not every checkout: a round
    # trip per request); 0 pings every checkout (docs/operations.md "Scaling the API").
    db_ping_idle_seconds: float = Field(default=2.0, ge=0)
    # Requests inside the API at once (default: two thirds of the pool); the rest queue up to
    # api_queue_timeout seconds, then answer 503 + Retry-After (docs/operations.md).
    api_concurrency: int | None = Field(default=None, ge=1)
    api_queue_timeout: float = Field(default=30.0, gt=0)
    # Seconds an API process trusts a token lookup (services/token_cache.py); revocation is
    # immediate in-process and on PostgreSQL, bounded by this on SQLite; 0 turns it off.
    api_token_cache_ttl: float = Field(default=5.0, ge=0)
    workers: int = 4
    heartbeat_timeout: float = 60.0
    heartbeat_interval: float = 5.0
    scheduler_interval: float = 5.0
    batch_rows: int = 50_000
    # The memory one executing run's DuckDB (the diff) may hold before it spills to disk; a
    # worker running N runs at once may use N times this (docs/operations.md).
    run_memory_mb: int = Field(default=2048, ge=64)
    # Model previews and column discoveries running on sources at once, per process; past it a
    # request waits up to preview_wait_seconds, then answers 503 (docs/security.md).
    preview_concurrency: int = Field(default=4, ge=1)
    preview_wait_seconds: float = Field(default=2.0, ge=0)
    # auto: procrastinate when the metadata store is PostgreSQL, embedded for SQLite.
    execution_backend: Literal["auto", "embedded", "procrastinate"] = "auto"
    # Network guard: loopback and private ranges may be reached (self-hosted) unless false.
    network_allow_private: bool = True
    # The directory file destinations write in (default <data_dir>/files; docs/security.md).
    file_root: Path | None = None
    # Alerts (docs/alerts.md): links in messages start here; the delivery loop's period.
    public_url: str = "http://127.0.0.1:8000"
    alert_interval: float = Field(default=5.0, gt=0)
    # /healthz reports "degraded" when the data directory has less free space (docs/operations.md).
    min_free_disk_mb: int = Field(default=100, ge=0)

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of the metadata store (SQLite in ``data_dir`` by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'syncline.db').resolve()}"

    def resolved_file_root(self) -> Path:
        """Where file destinations may write: ``file_root``, else ``<data_dir>/files``."""
        return self.file_root if self.file_root is not None else self.data_dir / "files"

    def resolved_backend(self) -> Literal["embedded", "procrastinate"]:
        """Which executor runs syncs (see docs/operations.md)."""
        if self.execution_backend != "auto":
            return self.execution_backend
        url = self.resolved_database_url()
        return "procrastinate" if url.startswith("postgresql") else "embedded"

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
