"""What connectors may reach, from the settings: the network policy and the file root; and
the shared rate budgets of destination accounts.

Connectors cannot import the settings, so the composition root calls
:func:`configure_connectors` once per process (see docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncline.connectors import _netguard, _ratelimit
from syncline.connectors.destinations.file.root import FileRoot, configure_file_root
from syncline.settings import Settings
from syncline.store.rate_windows import PgRateWindows


def configure_connectors(settings: Settings) -> None:
    """Hand the connectors the network guard's policy and the file root of ``settings``.

    The file root protects the data directory and the SQLite metadata file wherever it is.
    """
    _netguard.configure(_netguard.NetworkPolicy(allow_private=settings.network_allow_private))
    protected = [settings.data_dir]
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        protected.append(Path(url.database))
    configure_file_root(FileRoot.of(settings.resolved_file_root(), protected))


def configure_rate_limits(engine: sa.Engine) -> None:
    """Give connectors one rate budget per destination account: in the metadata store when it
    is PostgreSQL (every worker process shares it), in this process otherwise (SQLite is
    single-host, its workers are threads of one process)."""
    if engine.dialect.name == "postgresql":
        _ratelimit.configure(PgRateWindows(engine))
    else:
        _ratelimit.configure(_ratelimit.LocalWindows())
