"""The processes and their wiring: the composition root (``compose``: settings → services →
the app and the worker), the recharge ``worker``, the webhook ``dispatcher``, serving with
uvicorn (``serving``), log set-up (``logs``) and garbage-collector tuning (``gc_tuning``).

The one layer that may import every other one below the CLI (api, usecases, store, payments,
senders, telemetry, settings). Only the CLI imports it (and uvicorn, through
``compose:create_app_from_env``), so importing the API never imports the worker or the
dispatcher.
"""
