"""The HTTP API: thin FastAPI routers — parse, call one use case, present — with the error
format, authentication, body limits and the schemas.

May import usecases, auth, domain, store (sessions, models to present), payments (its
exceptions, mapped to statuses), telemetry, web and settings; never runtime or cli: the app
gets its services and its background work from the composition root, so importing it does
not import the worker.
"""
