"""The ``syncline`` command line: one module per command group."""

from syncline.cli.main import app, main

__all__ = ["app", "main"]
