"""OpenTelemetry traces, opt-in through the standard ``OTEL_*`` variables.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an
OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``),
unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. The SDK, the exporter
and the SQLAlchemy and httpx instrumentations are the optional extra
``stripe-balance-manager[otel]`` and are imported only then; the API (``opentelemetry-api``)
is always there (FastAPI depends on it). Off, :func:`span` and :func:`traced` cost one
global check.

Spans: the HTTP request (FastAPI's native telemetry, given our provider), the use cases
(:func:`traced`), the database (SQLAlchemy), each Stripe request (``payments.instruments``)
and the worker's charge, which carries a *link* to the span that opened the recharge (its
``traceparent`` is stored on the record): the debit's trace and the charge's trace are
separate, since the charge happens later in another process, but each leads to the other.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:  # the worker never imports FastAPI (about 10 MiB it would not use)
    from fastapi.telemetry import TelemetryConfig

P = ParamSpec("P")
R = TypeVar("R")

SERVICE_NAME = "balance-manager"
_PROPAGATOR = TraceContextTextMapPropagator()

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()


class TracingUnavailable(RuntimeError):
    """Tracing was asked for but the ``[otel]`` extra is not installed."""


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Do the OTEL_* variables ask for traces?"""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters == ["none"]:
        return False
    return bool(exporters) or bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def configure_from_env(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Set up the SDK when the environment asks for traces (once per process); None when off.

    ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and the
    ``OTEL_EXPORTER_OTLP_*`` variables are read by the SDK and the exporter themselves.
    """
    if _provider is not None:
        return _provider
    if not requested(environ):
        return None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        raise TracingUnavailable(
            "OTEL_* variables ask for traces but OpenTelemetry's SDK is not installed: "
            "pip install 'stripe-balance-manager[otel]'"
        ) from None
    resource = Resource.create({SERVICE_NAME_KEY: environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
    provider = SdkTracerProvider(resource=resource)
    for name in _exporter_names(environ) or ["otlp"]:
        exporter: SpanExporter
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            raise TracingUnavailable(
                f"OTEL_TRACES_EXPORTER={name} is not supported (use otlp, console or none)"
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    except ImportError:  # optional: our own Stripe spans remain
        pass
    return provider


def install(provider: TracerProvider) -> None:
    """Trace with ``provider`` from now on (tests pass one with an in-memory exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("balance_manager")


def uninstall() -> None:
    """Back to no tracing (tests)."""
    global _tracer, _provider
    _uninstrument_engines()
    _tracer = None
    _provider = None


def active() -> bool:
    return _tracer is not None


def provider() -> TracerProvider | None:
    return _provider


def shutdown() -> None:
    """Flush what is buffered (call when the process stops)."""
    flush = getattr(_provider, "shutdown", None)
    if flush is not None:
        flush()


def fastapi_telemetry() -> TelemetryConfig:
    """``FastAPI(telemetry=…)``: HTTP server spans from our provider when tracing is on;
    nothing otherwise. FastAPI's own metrics and logs stay off (Prometheus and structlog
    do those), and so does its environment auto-configuration (this module does it)."""
    if _provider is None:
        return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    return {
        "tracer_provider": _provider,
        "tracing": True,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
    }


def instrument_engine(engine: AsyncEngine) -> None:
    """Database spans for ``engine``, when tracing is on.

    The instrumentor is a process-wide singleton that takes its engines all at once, so a
    new engine re-instruments every live one. ``skip_dep_check``: the instrumentation pins
    SQLAlchemy < 2.1 although the engine events it uses did not change (the tracing test
    checks that database spans appear)."""
    if _provider is None or engine.sync_engine in _instrumented:
        return
    try:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError:
        return
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    _instrumented.add(engine.sync_engine)
    instrumentor.instrument(
        engines=list(_instrumented), tracer_provider=_provider, skip_dep_check=True
    )


def _uninstrument_engines() -> None:
    if not _instrumented:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    _instrumented.clear()


@contextmanager
def span(
    name: str,
    *,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    links: Sequence[Link] = (),
    kind: SpanKind = SpanKind.INTERNAL,
    new_trace: bool = False,
) -> Iterator[Span | None]:
    """A span around the block (None when tracing is off). ``new_trace`` starts a trace of
    its own (the worker's charge) instead of a child of the current span."""
    if _tracer is None:
        yield None
        return
    context = trace.set_span_in_context(trace.INVALID_SPAN) if new_trace else None
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes, links=links
    ) as current:
        yield current


def traced(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a use case: a span named ``name`` around each call when tracing is on."""

    def decorate(use_case: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(use_case)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer is None:
                return await use_case(*args, **kwargs)
            with _tracer.start_as_current_span(name):
                return await use_case(*args, **kwargs)

        return run

    return decorate


def mark_error(current: Span | None, error: BaseException) -> None:
    if current is not None:
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, type(error).__name__))


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` (None when off or outside any span)."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def links_to(parent: str | None) -> list[Link]:
    """A link to the span a stored ``traceparent`` names (none when off or unparsable)."""
    if _tracer is None or not parent:
        return []
    context = trace.get_current_span(_PROPAGATOR.extract({"traceparent": parent}))
    span_context = context.get_span_context()
    return [Link(span_context)] if span_context.is_valid else []
