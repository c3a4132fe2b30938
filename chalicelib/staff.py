"""The staff directory: the user pool (Cognito) is who works here. AWS errors become domain errors here."""

from __future__ import annotations

from chalicelib.aws import client as _client
from chalicelib.config import settings
from chalicelib.domain.errors import ServiceUnavailable


def has_address(address: str, kind: str) -> bool:
    """Whether a staff user has this phone number (`kind` "phone", E.164) or email ("email", lower case) as an
    attribute: one ListUsers with a filter. Addresses come normalised; one with a quote matches nobody."""
    from botocore.exceptions import BotoCoreError, ClientError

    if '"' in address or "\\" in address:
        return False
    attribute = "phone_number" if kind == "phone" else "email"
    try:
        found = _client("cognito-idp").list_users(UserPoolId=settings().user_pool_id, Limit=1,
                                                  Filter=f'{attribute} = "{address}"', AttributesToGet=[attribute])
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The staff directory is unavailable; retry shortly.") from exc
    return bool(found.get("Users"))
