"""The API fixtures (both metadata stores, tenants) for the security tests.

``tests/api`` is not a package: its conftest is loaded here under another name and its
fixtures re-exported, so both directories share one definition.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1] / "api"
if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))

_spec = importlib.util.spec_from_file_location("api_conftest", API_DIR / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
sys.modules["api_conftest"] = _api
_spec.loader.exec_module(_api)

_stores = _api._stores
_pg_store = _api._pg_store
ctx = _api.ctx
client = _api.client
warehouse = _api.warehouse
tenant = _api.tenant
other = _api.other
