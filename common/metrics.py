"""Every Prometheus metric pixelmill exports, defined once.

Names follow Prometheus conventions (base units, `_total` for counters). Labels are bounded:
routes are templates, error codes come from `ErrorCode`, never an id.
"""

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# Image work takes from milliseconds (a small fetch) to tens of seconds (a huge decode).
_IMAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "pixelmill_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "pixelmill_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of a streamed body)",
    ["service", "route", "method"],
    buckets=_HTTP_BUCKETS,
)

TASKS_CREATED = Counter("pixelmill_tasks_created_total", "Tasks created")
TASKS_FINISHED = Counter(
    "pixelmill_tasks_finished_total", "Tasks finished, by final status", ["status"]
)
IMAGES_FINISHED = Counter(
    "pixelmill_images_finished_total",
    "Images that reached a final state, by outcome (done, failed) and error code",
    ["outcome", "error_code"],
)
RETRIES_SCHEDULED = Counter(
    "pixelmill_image_retries_scheduled_total",
    "Transient failures that scheduled another attempt, by error code",
    ["error_code"],
)
DLQ_RECORDS = Counter(
    "pixelmill_dlq_records_total", "Jobs sent to the dead-letter topic after the last attempt"
)
STAGE_DURATION = Histogram(
    "pixelmill_stage_duration_seconds",
    "Processor time per image and stage: fetch, decode, transform, encode, store",
    ["stage"],
    buckets=_IMAGE_BUCKETS,
)
SOURCE_BYTES = Counter(
    "pixelmill_source_bytes_total", "Bytes of sources read, by kind (s3, url)", ["kind"]
)
OUTPUT_BYTES = Counter(
    "pixelmill_output_bytes_total", "Bytes of results written, by format", ["format"]
)
IMAGES_IN_FLIGHT = Gauge("pixelmill_images_in_flight", "Images a processor holds right now")
CONSUMER_LAG = Gauge(
    "pixelmill_consumer_lag_records",
    "Image jobs waiting in each partition assigned to this processor",
    ["partition"],
)
JOBS_PUBLISHED = Counter(
    "pixelmill_jobs_published_total",
    "Image job records Kafka acknowledged, by path (submit, reconciler)",
    ["path"],
)
WEBHOOK_ATTEMPTS = Counter(
    "pixelmill_webhook_attempts_total",
    "Completion webhook attempts, by outcome (delivered, failed, given_up)",
    ["outcome"],
)
SPOOL_BYTES = Gauge("pixelmill_spool_bytes", "Bytes of sources waiting in the gateway's spool")
SPOOL_MAX_BYTES = Gauge("pixelmill_spool_max_bytes", "The gateway spool's capacity in bytes")
JOBS_UNPUBLISHED = Gauge(
    "pixelmill_jobs_unpublished",
    "Queued images whose job Kafka has not acknowledged yet (grows while Kafka is down)",
)
UPLOADED_BYTES = Counter("pixelmill_upload_bytes_total", "Bytes of sources received by upload")


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _route_template(request: Request) -> str:
    # The router leaves the matched route in the scope; a path that matched none is one label.
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install_metrics(app: FastAPI, service: str) -> None:
    """Count and time every request by route template, and serve GET /metrics."""

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        HTTP_DURATION.labels(service, route, request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(service, route, request.method, str(response.status_code)).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()
