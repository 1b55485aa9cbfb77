"""The postgres destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.postgres.destination import PostgresDestination

__all__ = ["PostgresDestination"]
