"""The API as an import string, for ``syncline serve --api-workers N`` (uvicorn's workers).

Each worker process builds its own context from the environment (settings, store, keys) and
serves the API only: runs, the scheduler and alert delivery stay in the parent process, or in
``syncline worker`` / ``syncline scheduler`` processes (docs/operations.md, "Scaling the API").
"""

from __future__ import annotations

from fastapi import FastAPI

from syncline.api.app import create_app
from syncline.api.heap import frozen_startup_heap
from syncline.bootstrap import build_context
from syncline.settings import get_settings


def build() -> FastAPI:
    """One API worker's app (uvicorn ``factory=True``)."""
    return create_app(build_context(get_settings()), lifespan_hooks=[frozen_startup_heap])
