#!/usr/bin/env python3
"""Creates verified residents through the running API, for scripts/perf.sh.

Each resident signs up, follows the verification link from the email really delivered to the
outbox folder, signs in and submits applications (the catalogue's own example of a skip permit).
Writes, in the work folder: tokens.txt (one access token per line), credentials.txt (email and
password, tab-separated) and submit.json (a valid submit body).

Usage: perf_residents.py BASE_URL OUTBOX_DIR WORK_DIR RESIDENTS APPLICATIONS_EACH
"""

import email
import email.policy
import json
import pathlib
import re
import sys
import time
import urllib.request

BASE, OUTBOX, WORK = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
RESIDENTS, EACH = int(sys.argv[4]), int(sys.argv[5])
PASSWORD = "perf resident passphrase 7"


def call(method, path, body=None, token=None):
    request = urllib.request.Request(BASE + path, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(request, data, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def verification_token(address):
    """The token in the verification email delivered to `address`, waiting for the worker."""
    deadline = time.time() + 30
    while time.time() < deadline:
        for path in OUTBOX.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["to"] and address in str(message["to"]):
                body = message.get_body(("plain",)).get_content()
                found = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", body)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no verification email reached {OUTBOX} for {address}")


def main():
    skip = call("GET", "/api/v1/services/skip-permit")
    submit = {"service": "skip-permit", "details": skip["details_example"]}
    (WORK / "submit.json").write_text(json.dumps(submit))
    tokens, credentials = [], []
    run = int(time.time())
    for n in range(RESIDENTS):
        address = f"perf-{run}-{n}@example.invalid"
        call("POST", "/api/v1/accounts", {"name": f"Perf Resident {n}", "email": address,
                                          "password": PASSWORD, "accept_terms": True})
        call("POST", "/api/v1/accounts/verify", {"token": verification_token(address)})
        token = call("POST", "/api/v1/sessions", {"email": address, "password": PASSWORD})["access_token"]
        for _ in range(EACH):
            call("POST", "/api/v1/applications", submit, token)
        tokens.append(token)
        credentials.append(f"{address}\t{PASSWORD}")
    (WORK / "tokens.txt").write_text("\n".join(tokens) + "\n")
    (WORK / "credentials.txt").write_text("\n".join(credentials) + "\n")


main()
