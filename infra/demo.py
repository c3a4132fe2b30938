"""Demo users of the local stack, and ID tokens for them."""

from __future__ import annotations

import boto3

from infra.provision import STAGE

BRANCHES = ("jakarta", "bandung", "surabaya")
# Local demo only: moto's Cognito, reachable on 127.0.0.1. Never a real password.
DEMO_PASSWORD = "Relasi-Demo-2026"

# username -> (group, branch)
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", "jakarta"),
    "analyst": ("analyst", None),
    "marketing": ("marketing", None),
    **{f"manager.{b}": ("manager", b) for b in BRANCHES},
    **{f"agent.{b}": ("agent", b) for b in BRANCHES},
}


def phone_of(username: str) -> str:
    """A demo user's own phone number (a campaign's test-send goes to staff members' numbers only)."""
    return f"+62811009{list(USERS).index(username):05d}"


def create_users(pool_id: str) -> None:
    idp = boto3.client("cognito-idp")
    for username, (group, branch) in USERS.items():
        attributes = [{"Name": "email", "Value": f"{username}@demo.relasi.local"},
                      {"Name": "phone_number", "Value": phone_of(username)}]
        if branch:
            attributes.append({"Name": "custom:branch", "Value": branch})
        try:
            idp.admin_create_user(UserPoolId=pool_id, Username=username, UserAttributes=attributes, MessageAction="SUPPRESS")
        except idp.exceptions.UsernameExistsException:
            continue
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=DEMO_PASSWORD, Permanent=True)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def find_pool() -> tuple[str, str]:
    """The local stack's user pool and web client, looked up in moto."""
    idp = boto3.client("cognito-idp")
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"relasi-{STAGE}"]
    if not pools:
        raise LookupError("no Relasi user pool: is `make run` running on this RELASI_AWS_PORT?")
    pool_id = pools[0]["Id"]
    client_id = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"][0]["ClientId"]
    return pool_id, client_id


def id_token(username: str, pool_id: str, client_id: str, password: str = DEMO_PASSWORD) -> str:
    idp = boto3.client("cognito-idp")
    result = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])
