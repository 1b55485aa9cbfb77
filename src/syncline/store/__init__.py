"""The metadata store: tables, migrations, sessions."""

from syncline.store import alert_tables as alert_tables  # registers the alert tables
from syncline.store import rate_windows as rate_windows  # registers the shared rate budgets
from syncline.store import runlog_tables as runlog_tables  # registers the run log outbox
