"""Credentials: operator API keys (``api_keys``, stored hashed) and customer tokens
(``tokens``, short-lived and scoped to one user).

May import ``domain`` and ``store`` (the key table); never usecases, api, runtime or cli.
"""
