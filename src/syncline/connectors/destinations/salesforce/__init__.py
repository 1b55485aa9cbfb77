"""The salesforce destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.salesforce.destination import SalesforceDestination

__all__ = ["SalesforceDestination"]
