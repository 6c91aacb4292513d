"""Helpers with no domain meaning."""
