"""Real OTLP receivers on loopback, for tests: gRPC (the collector's TraceService and MetricsService from
`opentelemetry-proto`, served by grpcio) and HTTP/protobuf (`POST /v1/traces`, `POST /v1/metrics` on
`http.server`). What arrives is decoded into plain values: spans with their attributes, metrics with their points.

>>> with GrpcReceiver() as receiver:                                            # doctest: +SKIP
...     spans, metrics = otlp_exporters(receiver.endpoint, "grpc")
...     ...                                                                       # export
...     call = receiver.wait_for_span("anthropic.messages.create")

Both receivers listen on 127.0.0.1 on a free port; `endpoint` is the base URL to give an exporter
(`http://127.0.0.1:PORT`, to which the HTTP exporter adds `/v1/traces`), or on a given `port`. `closed_port()` is a port with nothing
listening, for the unreachable-collector tests.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def closed_port() -> int:
    """A loopback port that was free a moment ago and has nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def value_of(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (arrays as tuples, as the SDK keeps them)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(value_of(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  # lower-case hex, as the store and Tempo print them
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: int  # 0 unset, 1 ok, 2 error
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class ReceivedPoint:
    attributes: dict[str, Any]
    value: float | None = None  # sums and gauges
    count: int | None = None  # histograms
    sum: float | None = None


@dataclass
class ReceivedMetric:
    name: str
    unit: str
    kind: str  # "sum", "gauge", "histogram", ...
    resource: dict[str, Any]
    scope: str
    points: list[ReceivedPoint] = field(default_factory=list)


class _Received:
    """What a receiver has been sent, decoded; thread-safe; `wait_for*` poll until it arrives."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.paths: list[str] = []  # HTTP: the path of every request; gRPC: the method
        self.headers: list[dict[str, str]] = []  # HTTP headers or gRPC metadata of every request, lower-case keys

    def _add(self, request: Any, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.trace_requests.append(request)
            else:
                self.metric_requests.append(request)
            self.paths.append(path)
            self.headers.append(headers)
            self._lock.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            requests = list(self.trace_requests)
        out = []
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex() or None,
                                attributes=attributes_of(span.attributes),
                                resource=resource,
                                scope=scope_spans.scope.name,
                                status_code=span.status.code,
                                start_ns=span.start_time_unix_nano,
                                end_ns=span.end_time_unix_nano,
                            )
                        )
        return out

    def metrics(self) -> dict[str, list[ReceivedMetric]]:
        """Every metric received, by name (one entry per export that carried it)."""
        with self._lock:
            requests = list(self.metric_requests)
        out: dict[str, list[ReceivedMetric]] = {}
        for request in requests:
            for resource_metrics in request.resource_metrics:
                resource = attributes_of(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data") or ""
                        received = ReceivedMetric(metric.name, metric.unit, kind, resource, scope_metrics.scope.name)
                        for point in getattr(metric, kind).data_points if kind else ():
                            attrs = attributes_of(point.attributes)
                            if kind in ("histogram", "exponential_histogram"):
                                received.points.append(ReceivedPoint(attrs, count=point.count, sum=point.sum))
                            else:
                                number = point.WhichOneof("value")
                                received.points.append(ReceivedPoint(attrs, value=getattr(point, number) if number else None))
                        out.setdefault(metric.name, []).append(received)
        return out

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Poll `predicate()` until it returns something truthy (returned) or `timeout_s` passes (AssertionError)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the receiver got nothing matching within {timeout_s} s (paths seen: {self.paths})")
            with self._lock:
                self._lock.wait(min(remaining, 0.2))

    def wait_for_span(self, name: str, timeout_s: float = 10.0) -> ReceivedSpan:
        found: ReceivedSpan = self.wait_for(lambda: next((s for s in self.spans() if s.name == name), None), timeout_s)
        return found

    def wait_for_metric(self, name: str, timeout_s: float = 10.0) -> list[ReceivedMetric]:
        found: list[ReceivedMetric] = self.wait_for(lambda: self.metrics().get(name), timeout_s)
        return found


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: _Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # the generated service's method name
        self.received._add(request, "TraceService/Export", {k.lower(): v for k, v in context.invocation_metadata()})
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: _Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # the generated service's method name
        self.received._add(request, "MetricsService/Export", {k.lower(): v for k, v in context.invocation_metadata()})
        return metrics_service_pb2.ExportMetricsServiceResponse()


class GrpcReceiver(_Received):
    """An OTLP/gRPC collector on 127.0.0.1: the real generated services on a real grpcio server."""

    protocol = "grpc"

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsService(self), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


class HttpReceiver(_Received):
    """An OTLP/HTTP collector on 127.0.0.1: protobuf bodies (gzip or deflate too) on POST /v1/traces and
    /v1/metrics; anything else is 404."""

    protocol = "http/protobuf"

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                response: Any
                if self.path == "/v1/traces":
                    received._add(trace_service_pb2.ExportTraceServiceRequest.FromString(body), self.path, headers)
                    response = trace_service_pb2.ExportTraceServiceResponse()
                elif self.path == "/v1/metrics":
                    received._add(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body), self.path, headers)
                    response = metrics_service_pb2.ExportMetricsServiceResponse()
                else:
                    self.send_error(404)
                    return
                payload = response.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="otlp-http-receiver", daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


RECEIVERS: dict[str, type[GrpcReceiver] | type[HttpReceiver]] = {"grpc": GrpcReceiver, "http/protobuf": HttpReceiver}
