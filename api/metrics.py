"""Prometheus metrics: request counts and latencies per endpoint, model-slot pressure, index size.

Each app gets its own registry (not prometheus-client's global one), so that several apps in one process
(tests, or a future multi-index server) never collide on metric names. Endpoints are labelled by their
route template (`/documents/{document_id}`), never by the raw path, to keep label cardinality bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search.retrieval.query_cache import CacheStats

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"


class QueryCacheCollector(Collector):
    """The searcher's query-embedding cache counters, read at scrape time (the cache counts for itself, so
    searches run outside the API, e.g. by /answer, are counted too)."""

    def __init__(self) -> None:
        self.source: Callable[[], CacheStats] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        stats = self.source()
        yield CounterMetricFamily(
            "docsearch_query_cache_hits", "Query embeddings served from the cache (encoder skipped)", value=stats.hits
        )
        yield CounterMetricFamily(
            "docsearch_query_cache_misses", "Query embeddings computed by the encoder", value=stats.misses
        )
        yield CounterMetricFamily(
            "docsearch_query_cache_evictions", "Least recently used entries dropped at the size limit",
            value=stats.evictions,
        )  # fmt: skip
        yield GaugeMetricFamily("docsearch_query_cache_entries", "Query embeddings cached now", value=stats.entries)


class ApiMetrics:
    """The app's metric families, registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "docsearch_http_requests",
            "HTTP requests by endpoint, method and status code",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "docsearch_http_request_duration_seconds",
            "HTTP request latency by endpoint and method",
            ("endpoint", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.searches = Counter("docsearch_searches", "Completed searches by mode", ("mode",), registry=self.registry)
        self.model_busy = Counter(
            "docsearch_model_busy_rejections",
            "Requests refused with 503 because every model slot stayed busy",
            registry=self.registry,
        )
        self.model_in_use = Gauge(
            "docsearch_model_calls_in_progress", "Model calls running right now", registry=self.registry
        )
        self.documents = Gauge("docsearch_index_documents", "Documents in the index", registry=self.registry)
        self.passages = Gauge("docsearch_index_passages", "Passages in the index", registry=self.registry)
        self.generation = Gauge(
            "docsearch_index_generation", "Index generation currently served", registry=self.registry
        )
        self.query_cache = QueryCacheCollector()
        self.registry.register(self.query_cache)

    def watch_query_cache(self, stats: Callable[[], CacheStats]) -> None:
        """Report this cache's counters from now on (the searcher's, once it is loaded)."""
        self.query_cache.source = stats

    def render(self, index_stats: dict[str, Any] | None, in_use: int) -> tuple[bytes, str]:
        """The text exposition format, with the index gauges refreshed at scrape time."""
        if index_stats is not None:
            self.documents.set(index_stats["documents"])
            self.passages.set(index_stats["passages"])
            self.generation.set(index_stats["generation"])
        self.model_in_use.set(in_use)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request, including those answered by other middleware (401, 413)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: ApiMetrics,
        routes: Sequence[BaseRoute] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's live route list: requests refused before routing still get a label
        self.clock = clock

    def endpoint(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500  # what the client gets if the app raises before responding

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            endpoint = self.endpoint(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(endpoint, method, str(status)).inc()
            self.metrics.latency.labels(endpoint, method).observe(self.clock() - started)
