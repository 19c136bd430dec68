"""The ``balance-manager`` command line: one module per command group (``app`` holds the root)."""

from balance_manager.cli.app import app, main

__all__ = ["app", "main"]
