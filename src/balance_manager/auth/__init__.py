"""Credentials: operator API keys and customer tokens."""
