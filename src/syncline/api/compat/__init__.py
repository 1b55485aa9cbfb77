"""The market leader's Syncs API (seeds 001 and 002) served as it is, over the same services.

See docs/compat.md for what is served, accepted and ignored, or refused.
"""

from syncline.api.compat.routes import BASE, router

__all__ = ["BASE", "router"]
