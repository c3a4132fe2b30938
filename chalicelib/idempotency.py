"""Idempotency-Key for POST, on Powertools idempotency with its DynamoDB persistence layer.

The key is scoped to the caller, the method and the path, so two users (or
two routes) never share one. The request body's SHA-256 is the validation
payload: the same key with another body is refused (422). The first response
(status, headers, body) is stored and replayed for 24 hours; a failed request
stores nothing, so it can be retried with the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from chalicelib.config import IDEMPOTENCY_TTL_SECONDS, settings
from chalicelib.domain.errors import IdempotencyInProgress, IdempotencyKeyReused, ServiceUnavailable

Reply = dict[str, Any]  # {"status": int, "headers": {...}, "body": str}


@lru_cache(maxsize=1)
def _idempotent_runner() -> tuple[Callable[..., Reply], Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table_name)
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def run(request: dict[str, str], work: Callable[[], Reply]) -> Reply:
        return work()

    return run, config


def run_once(
    *, caller: str, method: str, path: str, key: str, body: bytes, work: Callable[[], Reply], lambda_context: Any = None
) -> tuple[Reply, bool]:
    """Run `work` once per (caller, method, path, key); returns (reply, replayed)."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    ran = False

    def tracked() -> Reply:
        nonlocal ran
        ran = True
        return work()

    request = {
        "scope": f"{caller}|{method}|{path}|{key}",
        "fingerprint": hashlib.sha256(body).hexdigest(),
    }
    run, config = _idempotent_runner()
    if hasattr(lambda_context, "get_remaining_time_in_millis"):
        # Lets an in-progress record expire with the invocation that wrote it.
        config.register_lambda_context(lambda_context)
    try:
        reply = run(request=request, work=tracked)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.") from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still in progress; retry shortly.") from None
    except IdempotencyPersistenceLayerError as exc:
        raise ServiceUnavailable("The idempotency store is unavailable; retry shortly.") from exc
    return reply, not ran
