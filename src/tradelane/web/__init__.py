"""The ops console: list, inspect, fix and reprocess quarantined files from a browser."""

from tradelane.web.app import create_app

__all__ = ["create_app"]
