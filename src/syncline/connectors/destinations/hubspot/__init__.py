"""The hubspot destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.hubspot.destination import HubSpotDestination

__all__ = ["HubSpotDestination"]
