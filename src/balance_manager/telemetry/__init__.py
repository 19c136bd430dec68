"""Metrics, traces and logs plumbing, importing nothing of the service (any layer may use it).

metrics      the in-process Prometheus instruments (counters, histograms)
exposition   one scrape: this process's (or, in multiprocess mode, every local
             process's) instruments plus families the caller computed from the database
tracing      OpenTelemetry, opt-in through the standard OTEL_* variables; a no-op, and
             no SDK imported, when off
redact       the log processor that masks secrets, card numbers and emails
requests     the ASGI middleware: request id, HTTP latency by route, the access log
"""
