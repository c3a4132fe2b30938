"""Logger and metrics, wired once and created on first use.

Powertools costs cold-start time (Logger ~45 ms, Metrics ~55 ms), so nothing
is imported until a request needs it. There is no X-Ray tracing (its Tracer
alone costs ~330 ms of cold start); a request is followed from the gateway to
the function by its request id, in the access log and the application log.
Nothing here is ever given
personal data: callers log route templates, statuses and ids, never bodies,
query strings or names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "relasi"
NAMESPACE = "Relasi"


@lru_cache(maxsize=1)
def logger() -> Logger:
    import logging

    from aws_lambda_powertools import Logger

    log = Logger(service=SERVICE)
    # Lambda's runtime puts its own handler on the root logger: without this
    # every line would be written twice, once as plain text.
    logging.getLogger(SERVICE).propagate = False
    return log


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Publish the metrics added since the last flush (an EMF line in the log). A flush with none publishes
    nothing and, unlike Powertools' own, warns about nothing (a stream batch often counts nothing)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        metrics().flush_metrics()
