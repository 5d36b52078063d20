"""The HTTP layer: API Gateway REST proxy events in, enveloped JSON responses out.

Routes are thin: parse, call one domain function, format. Only this module maps
LiveInsight errors to status codes. DynamoDB stream batches (the aggregator) and the
report/alert schedules arrive through the same `handle` so one zip serves every function.
"""
from __future__ import annotations

import base64
import hmac
import json
import os
import threading
import time
from urllib.parse import unquote
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from . import config, localtime, share
from .query import params as p
from .config import Settings
from .errors import Forbidden, RequestError, StoreUnavailable, Unauthorized
from .store import Store

SERVICE = "liveinsight"
# Stream batches the aggregator reported as failed (`batchItemFailures`): Lambda's Errors
# metric never counts them, so the template's alarm watches this one (dimensions: service, function).
BATCH_ITEM_FAILURES_METRIC = "StreamBatchItemFailures"
RECORDS_PARKED_METRIC = "RecordsParked"
# Key holders' answers name the SDK the function runs on (the runtime's copy on AWS), so
# `python -m liveinsight doctor` can compare it with the oldest one the tests ran on.
SDK_HEADER = "X-LiveInsight-SDK"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="LiveInsight", service=SERVICE)


class Services:
    """The domain objects one warm Lambda (or the local gateway) reuses across requests."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None):
        self.settings = settings or (store.settings if store else Settings.from_env())
        self.store = store or Store(self.settings)
        self._collector = None
        self._aggregator = None
        self._stats = None
        self._realtime = None
        self._share_secret = None
        self._origin_secret = None
        self._api_key = None
        self._views = None
        self._definitions = None

    @property
    def collector(self):
        # Imported on first use: the read functions never need the event model (pydantic).
        if self._collector is None:
            from .ingest.collector import Collector

            self._collector = Collector(self.store, self.settings)
        return self._collector

    @property
    def aggregator(self):
        if self._aggregator is None:
            from .aggregator import Aggregator

            self._aggregator = Aggregator(self.store, self.settings)
        return self._aggregator

    @property
    def stats(self):
        if self._stats is None:
            from .query.stats import StatsReader

            self._stats = StatsReader(self.store, self.settings)
        return self._stats

    @property
    def realtime(self):
        if self._realtime is None:
            from .query.realtime import RealtimeReader

            self._realtime = RealtimeReader(self.store, self.settings)
        return self._realtime


    @property
    def api_key(self):
        """The key the read routes require: LIVEINSIGHT_API_KEY, or its Secrets Manager secret on AWS."""
        if self._api_key is None:
            from .secret import Secret

            self._api_key = Secret(self.settings.api_key, self.settings.api_key_secret_arn, region=self.settings.region)
        return self._api_key

    @property
    def views(self):
        if self._views is None:
            from .views import SavedViews

            self._views = SavedViews(self.store, self.settings)
        return self._views

    @property
    def definitions(self):
        """Page groups, goals and funnels per site (the aggregator and the readers ask `for_site`)."""
        if self._definitions is None:
            from .definitions import DefinitionsStore

            self._definitions = DefinitionsStore(self.store, self.settings)
        return self._definitions

    @property
    def share_secret(self):
        """The deployment's share-link secret (read from Secrets Manager on first use on AWS)."""
        if self._share_secret is None:
            from .secret import Secret

            self._share_secret = Secret(self.settings.share_secret, self.settings.share_secret_arn,
                                             region=self.settings.region)
        return self._share_secret

    @property
    def origin_secret(self):
        """The front door's origin secret (config.ORIGIN_HEADER): LIVEINSIGHT_ORIGIN_SECRET, or its Secrets Manager secret."""
        if self._origin_secret is None:
            from .secret import Secret

            self._origin_secret = Secret(self.settings.origin_secret, self.settings.origin_secret_arn,
                                         region=self.settings.region)
        return self._origin_secret


_services: Services | None = None
_app: APIGatewayRestResolver | None = None
_url_app: LambdaFunctionUrlResolver | None = None
# Powertools keeps the request being resolved in class attributes (`BaseRouter.current_event`),
# shared by every resolver of the process: two requests resolved at once read each other's
# event. Lambda runs one request per execution environment; the local gateway answers
# concurrent requests on threads, and under load one request was answered with another's
# body (tests/test_concurrency.py). So a process resolves one request at a time.
_resolving = threading.Lock()


def configure(settings: Settings | None = None, store: Store | None = None) -> Services:
    """Set the services used by `handle` (tests and the local stack pass their own)."""
    global _services, _app, _url_app
    _services = Services(settings, store)
    _app = _url_app = None
    return _services


def services() -> Services:
    global _services
    if _services is None:
        _services = Services()
    return _services


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def success(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"status": "success", "data": data}, default=_json_default, separators=(",", ":"))
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


def sdk_header() -> dict[str, str]:
    """`X-LiveInsight-SDK: boto3/1.26.90 botocore/1.29.90`: the SDK this process runs on."""
    from .store import sdk_versions

    return {SDK_HEADER: " ".join(f"{name}/{version}" for name, version in sdk_versions().items())}


def failure(status: int, message: str, errors: list | None = None, headers: dict | None = None) -> Response:
    payload: dict[str, Any] = {"status": "error", "message": message}
    if errors:
        payload["errors"] = errors
    return Response(status_code=status, content_type="application/json", body=json.dumps(payload),
                    headers=headers or {})


def source_ip(event: dict[str, Any]) -> str:
    """The address that connected to API Gateway (`identity.sourceIp`) or to a function URL (`http.sourceIp`)."""
    context = event.get("requestContext") or {}
    return (context.get("identity") or {}).get("sourceIp") or (context.get("http") or {}).get("sourceIp") or ""


def build_app(settings: Settings, function_url: bool = False) -> APIGatewayRestResolver | LambdaFunctionUrlResolver:
    """The router: one resolver with CORS (OPTIONS answers 204 on every path, no key needed).

    `function_url`: the collector's Lambda function URL (payload format 2.0), which serves
    POST /api/events only; the read routes stay on the REST API.
    """
    origins = list(settings.allowed_origins)
    cors = CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:] or None,
        allow_headers=["Content-Type", "X-API-Key", "Authorization"],
        expose_headers=[CORS_EXPOSED],
        max_age=600,
    )
    app = LambdaFunctionUrlResolver(cors=cors) if function_url else APIGatewayRestResolver(cors=cors)

    def require_key() -> None:
        expected = services().api_key.get()
        if not expected:
            return
        headers = app.current_event.headers or {}
        lowered = {k.lower(): v for k, v in headers.items()}
        given = lowered.get("x-api-key") or ""
        auth = lowered.get("authorization") or ""
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("a valid API key is required: send it in the X-API-Key header "
                               "or as Authorization: Bearer <key>")

    @app.post("/api/events")
    def post_events() -> Response:
        event = app.current_event
        from .ingest.origin import request_context

        context = request_context(event.headers, source_ip(event.raw_event), services().origin_secret.get())
        body = None
        if event.body is not None:
            # Bytes, not text: a body that is not UTF-8 is a 400 from decode_body, not a 500 here.
            body = base64.b64decode(event.body) if event.is_base64_encoded else event.body
        result = services().collector.ingest(body, context)
        _count(EventsAccepted=result.accepted, EventsRejected=len(result.rejected),
               EventsFiltered=result.filtered, EventsDuplicate=result.duplicates,
               EventsFilteredNewSite=result.new_sites_refused)
        return success(result.as_dict())

    def read_access(route: str) -> tuple[dict[str, list[str]], Any]:
        """The request's parameters and, for a share link, its Grant (the scope forced in); else the key check."""
        params = _query(app)
        if share.PARAM not in params:
            require_key()
            return params, None
        # A share link is always served within its scope, whatever key comes with it.
        token = p.single(params, share.PARAM) or ""
        del params[share.PARAM]
        now = time.time()
        grant = share.verify(token, services().share_secret.get(), now)
        tz = localtime.UTC
        if grant.period:  # a link's period is on the site's calendar
            from .zones import SiteZones

            tz = SiteZones(services().store, services().settings).get(grant.site)
        return grant.restrict(params, route, now, tz), grant

    if function_url:
        _add_error_handlers(app)

        @app.not_found
        def not_on_function_url(exc: Exception) -> Response:
            return failure(404, f"no route for {app.current_event.http_method} {app.current_event.path} here: "
                                "this address serves POST /api/events only; the read routes are on the API")

        return app

    @app.get("/api/realtime")
    def get_realtime() -> Response:
        params, grant = read_access(share.REALTIME)
        data = services().realtime.answer(params)
        return success(grant.annotate(data)) if grant else success(data, headers=sdk_header())

    @app.get("/api/stats")
    def get_stats() -> Response:
        params, grant = read_access(share.STATS)
        data = services().stats.answer(params)
        return success(grant.annotate(data)) if grant else success(data, headers=sdk_header())

    def views_access() -> None:
        """Saved views are the team's: the key, never a share link."""
        if share.PARAM in _query(app):
            raise Unauthorized("a share link does not open saved views; send the API key")
        require_key()

    @app.get("/api/views")
    def get_views() -> Response:
        views_access()
        return success({"views": [view.as_dict() for view in services().views.all()]})

    @app.put("/api/views/<name>")
    def put_view(name: str) -> Response:
        views_access()
        event = app.current_event
        body = base64.b64decode(event.body) if event.body is not None and event.is_base64_encoded else event.body
        return success(services().views.save(unquote(name), body).as_dict())

    @app.delete("/api/views/<name>")
    def delete_view(name: str) -> Response:
        views_access()
        services().views.delete(unquote(name))
        return success({"deleted": unquote(name).strip()})

    def definitions_access() -> str:
        """Definitions are the team's: the key, never a share link; the site they are about."""
        params = _query(app)
        if share.PARAM in params:
            raise Forbidden("a share link (`share`) does not open definitions; send the API key")
        require_key()
        from .definitions import site_param

        return site_param(params, services().settings)

    @app.get("/api/definitions")
    def get_definitions() -> Response:
        site = definitions_access()
        return success(services().definitions.read(site, consistent=True).as_dict())

    @app.put("/api/definitions/<kind>/<name>")
    def put_definition(kind: str, name: str) -> Response:
        site = definitions_access()
        event = app.current_event
        body = base64.b64decode(event.body) if event.body is not None and event.is_base64_encoded else event.body
        return success(services().definitions.put(site, unquote(kind), unquote(name), body).as_dict())

    @app.delete("/api/definitions/<kind>/<name>")
    def delete_definition(kind: str, name: str) -> Response:
        site = definitions_access()
        return success(services().definitions.delete(site, unquote(kind), unquote(name)).as_dict())

    @app.put("/api/sites/<site>/zone")
    def put_site_zone(site: str) -> Response:
        if share.PARAM in _query(app):  # a site's settings are the team's: the key, never a share link
            raise Unauthorized("a share link does not change a site's zone; send the API key")
        require_key()
        from .zones import SiteZones, check_site, parse_body

        event = app.current_event
        body = base64.b64decode(event.body) if event.body is not None and event.is_base64_encoded else event.body
        site_key = check_site(unquote(site), services().settings)
        tz = SiteZones(services().store, services().settings).set(site_key, parse_body(body))
        return success({"site": site_key, "zone": localtime.describe(tz, time.time())})

    _add_error_handlers(app)

    @app.not_found
    def not_found(exc: Exception) -> Response:
        method = app.current_event.http_method
        path = app.current_event.path
        known = {"/api/events": "POST", "/api/realtime": "GET", "/api/stats": "GET", "/api/views": "GET",
                 "/api/definitions": "GET"}
        if path in known:
            return failure(405, f"{method} is not allowed on {path}; use {known[path]} (or OPTIONS)")
        if path.startswith("/api/views/"):
            return failure(405, f"{method} is not allowed on {path}; use PUT or DELETE (or OPTIONS)")
        if path.startswith("/api/definitions/") and path.count("/") == 4:
            return failure(405, f"{method} is not allowed on {path}; use PUT or DELETE (or OPTIONS)")
        if path.startswith("/api/sites/") and path.endswith("/zone"):
            return failure(405, f"{method} is not allowed on {path}; use PUT (or OPTIONS)")
        return failure(404, f"no route for {method} {path}; the API has POST /api/events, "
                            "GET /api/realtime, GET /api/stats, GET, PUT, DELETE /api/views, "
                            "GET /api/definitions, PUT, DELETE /api/definitions/{kind}/{name} and "
                            "PUT /api/sites/{site}/zone")

    return app


def _add_error_handlers(app: Any) -> None:
    """Only the HTTP layer maps LiveInsight errors to status codes: the same on every resolver."""

    @app.exception_handler(RequestError)
    def request_error(exc: RequestError) -> Response:
        if exc.errors:
            _count(EventsRejected=len(exc.errors))
        return failure(exc.status, exc.message, exc.errors)

    @app.exception_handler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> Response:
        logger.error("store unavailable", extra={"cause": exc.message}, exc_info=exc)
        return failure(503, f"the event store is busy; retry after {exc.retry_after} s",
                       headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NotImplementedError)
    def not_implemented(exc: NotImplementedError) -> Response:
        return failure(501, str(exc) or "not implemented yet")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error", extra={"cause": repr(exc)})
        return failure(500, "internal error; the cause is logged with the request id")


def _query(app: APIGatewayRestResolver) -> dict[str, list[str]]:
    event = app.current_event
    multi = event.multi_value_query_string_parameters or {}
    single = event.query_string_parameters or {}
    params = {k: list(v) for k, v in multi.items()}
    for k, v in single.items():
        params.setdefault(k, [v])
    return params


def app() -> APIGatewayRestResolver:
    global _app
    if _app is None:
        _app = build_app(services().settings)
    return _app


def url_app() -> LambdaFunctionUrlResolver:
    global _url_app
    if _url_app is None:
        _url_app = build_app(services().settings, function_url=True)
    return _url_app


def is_function_url_event(event: dict[str, Any]) -> bool:
    """A request through a Lambda function URL (payload format 2.0), as CloudFront forwards it."""
    return event.get("version") == "2.0" and "http" in (event.get("requestContext") or {})


def _resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The response of the right resolver; a function-URL request without the front door's secret gets 403.

    The function URL has no authorisation of its own (a browser's sendBeacon cannot sign its
    body for CloudFront's origin access control), so the function refuses what did not come
    through the deployment's distribution, before reading the body.
    """
    if not is_function_url_event(event):
        return app().resolve(event, context)
    from .ingest.origin import carries_secret, lowered

    if not carries_secret(lowered(event.get("headers")), services().origin_secret.get()):
        payload = {"status": "error", "message": f"this address accepts requests only through the deployment's "
                                                 f"CloudFront distribution (its {config.ORIGIN_HEADER} header); "
                                                 "send events to the distribution's /api/events"}
        return {"statusCode": 403, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload),
                "isBase64Encoded": False}
    return url_app().resolve(event, context)


def is_stream_event(event: dict[str, Any]) -> bool:
    """A DynamoDB stream batch (tumbling-window invocations may carry no records, only `shardId`)."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return False
    records = event["Records"]
    return (records[0].get("eventSource") == "aws:dynamodb") if records else "shardId" in event


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one Lambda invocation: a DynamoDB stream batch, a schedule, or an API Gateway or function-URL request."""
    if is_stream_event(event):
        return handle_stream(event, context)
    from .reports.scheduled import is_scheduled_event

    if is_scheduled_event(event):
        return handle_scheduled(event)
    if getattr(context, "aws_request_id", None):
        logger.set_correlation_id(context.aws_request_id)
    started = time.perf_counter()
    try:
        with _resolving:
            response = _resolve(event, context)
    finally:
        _flush_metrics()
    _add_cors(response, event, services().settings)
    status = response.get("statusCode", 0)
    log = logger.error if status >= 500 else logger.info
    http = (event.get("requestContext") or {}).get("http") or {}
    log("request", extra={"method": event.get("httpMethod") or http.get("method"),
                          "path": event.get("path") or event.get("rawPath"), "status": status,
                          "ms": round((time.perf_counter() - started) * 1000, 1)})
    return response


CORS_METHODS = "GET,POST,OPTIONS"
CORS_HEADERS = "Content-Type,X-API-Key,Authorization"
CORS_EXPOSED = "Retry-After"  # the tracker's retry waits for it: a cross-origin script reads only exposed headers


def cors_headers(settings: Settings, origin: str | None) -> dict[str, str]:
    """CORS headers for a response to `origin`: `*`, or the origin itself when it is allowed."""
    allowed = settings.allowed_origins
    headers = {"Access-Control-Allow-Methods": CORS_METHODS, "Access-Control-Allow-Headers": CORS_HEADERS,
               "Access-Control-Expose-Headers": CORS_EXPOSED}
    if "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    return headers


def _add_cors(response: dict[str, Any], event: dict[str, Any], settings: Settings) -> None:
    request_headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    extra = cors_headers(settings, request_headers.get("origin"))
    extra.setdefault("Content-Type", "application/json")
    multi = response.get("multiValueHeaders")
    if multi is not None:
        present = {k.lower() for k in multi}
        for key, value in extra.items():
            if key.lower() == "content-type" and "content-type" in present:
                continue
            multi[key] = [value]
    else:
        headers = response.setdefault("headers", {})
        for key, value in extra.items():
            if key.lower() == "content-type" and any(k.lower() == "content-type" for k in headers):
                continue
            headers[key] = value


def handle_stream(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Fold a DynamoDB stream batch of one shard; on failure the whole batch is delivered again.

    The shard (`shardId`, present in tumbling-window invocations and sent by the local
    poller) and the consumer (realtime or rollups: the function's configuration, or the local
    poller's `CONSUMER_FIELD`) make the ledger lane of every item the batch writes. A failure reports the first
    record, so the event source mapping redelivers the same records and every item that
    already applied them skips them (the mapping must not bisect batches).
    """
    records = event["Records"]
    answer: dict[str, Any] = {"state": {}} if "window" in event else {}  # tumbling windows want a state back
    if not records:
        return {**answer, "batchItemFailures": []}
    try:
        consumer = event.get(config.CONSUMER_FIELD) or services().settings.stream_consumer
        result = services().aggregator.apply_stream_records(records, lane=str(event.get("shardId") or "0"),
                                                            consumer=consumer)
    except Exception as exc:
        logger.exception("aggregation failed", extra={"cause": repr(exc), "records": len(records)})
        first = records[0].get("dynamodb", {}).get("SequenceNumber")
        _count_stream(context, BATCH_ITEM_FAILURES_METRIC, 1)
        return {**answer, "batchItemFailures": [{"itemIdentifier": first}] if first else []}
    logger.debug("aggregated", extra={"counted": result.counted, "duplicates": result.duplicates,
                                      "bots": result.bots, "write_requests": result.write_requests,
                                      "skipped_items": result.skipped_items})
    if result.parked:
        # The rest of the batch is applied; these records wait in the stats table for `liveinsight replay`.
        logger.error("records parked", extra={"parked": result.parked, "records": len(records)})
        _count_stream(context, RECORDS_PARKED_METRIC, result.parked)
    return {**answer, "batchItemFailures": []}


def handle_scheduled(event: dict[str, Any]) -> dict[str, Any]:
    """A report, an alert check or the recount job from an EventBridge schedule; failures raise so the Errors
    alarm sees them."""
    from .reports.scheduled import JOB, RECOUNT, run

    if event[JOB] == RECOUNT:
        from .recount import Recounter

        result = Recounter(services().store, services().settings).run()
    else:
        result = run(event, services().stats)
    logger.info("scheduled job", extra=result)
    return result


def _metrics_enabled() -> bool:
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "false").lower() not in ("true", "1", "yes")


def _count(**counts: int) -> None:
    """Record counts as CloudWatch metrics (EMF), flushed at the end of the request."""
    if _metrics_enabled():
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _count_stream(context: Any, name: str, value: int) -> None:
    """Count something of a stream batch per function (so stages in one account keep their own
    series), and flush it now: no request end follows."""
    if not _metrics_enabled():
        return
    function = getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    metrics.add_dimension(name="function", value=function)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    _flush_metrics()


def _flush_metrics() -> None:
    try:
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception:  # metrics must never fail a request
        logger.debug("metrics flush failed", exc_info=True)
