"""Metrics and structured logs: what operators watch (docs/operations.md)."""
