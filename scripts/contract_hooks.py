"""Schemathesis hooks for scripts/contract-check.sh: authentication that survives the fuzzer.

The fuzzer also calls the operations that end its own session (`DELETE /api/v1/sessions/current`,
`DELETE /api/v1/me/sessions/{id}`), so a fixed `Authorization` header would go dead half-way
through the run and every later request would be a 401. Instead of leaving those operations out,
this provider hands out the token the script signed in with and, whenever a request answers 401
(Schemathesis's reactive re-authentication, `retry_on=[401]`), signs in again and replays the
request once. A 401 that survives the fresh token is reported as it is.

Reads CONTRACT_BASE, CONTRACT_EMAIL, CONTRACT_PASSWORD and CONTRACT_TOKEN from the environment.
"""

import os

import requests
import schemathesis

BASE = os.environ["CONTRACT_BASE"]
EMAIL = os.environ["CONTRACT_EMAIL"]
PASSWORD = os.environ["CONTRACT_PASSWORD"]


@schemathesis.auth(refresh_interval=3000, retry_on=[401])
class BearerToken:
    def __init__(self):
        self.first = os.environ.get("CONTRACT_TOKEN")

    def get(self, case, context):
        if self.first:
            token, self.first = self.first, None
            return token
        response = requests.post(
            f"{BASE}/api/v1/sessions",
            json={"email": EMAIL, "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
