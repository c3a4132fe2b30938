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


NAMES_CACHE_SECONDS = 300
_names: tuple[dict[str, str], float] | None = None


def usernames() -> dict[str, str]:
    """Every staff member's username by their id (`sub`, what records say did something): ListUsers page by
    page, kept for NAMES_CACHE_SECONDS. Raises ServiceUnavailable when the directory cannot be read."""
    import time

    from botocore.exceptions import BotoCoreError, ClientError

    global _names
    if _names is not None and time.monotonic() - _names[1] < NAMES_CACHE_SECONDS:
        return _names[0]
    found: dict[str, str] = {}
    kwargs: dict[str, object] = {"UserPoolId": settings().user_pool_id, "AttributesToGet": ["sub"]}
    try:
        while True:
            page = _client("cognito-idp").list_users(**kwargs)
            for user in page.get("Users", []):
                sub = next((a["Value"] for a in user.get("Attributes", []) if a["Name"] == "sub"), None)
                if sub:
                    found[sub] = user["Username"]
            if not page.get("PaginationToken"):
                break
            kwargs["PaginationToken"] = page["PaginationToken"]
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The staff directory is unavailable; retry shortly.") from exc
    _names = (found, time.monotonic())
    return found

