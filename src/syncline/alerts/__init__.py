"""Alerts: rules judged on run outcomes, an outbox, channels and the delivery loop."""
