"""The HTTP API: thin FastAPI routers over the service modules."""
