"""The webhook destination: its entry point class, re-exported for the plugin registry."""

from syncline.connectors.destinations.webhook.destination import WebhookDestination

__all__ = ["WebhookDestination"]
