"""The file destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.file.destination import FileDestination

__all__ = ["FileDestination"]
