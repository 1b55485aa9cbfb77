"""The mysql destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.mysql.destination import MySQLDestination

__all__ = ["MySQLDestination"]
