"""What both peers of the Python client share: a token credential for the
emulator's token endpoint, the URL fix-up its endpoint needs, and a recorder
of what went over the wire."""

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy


class EmulatorCredential:
    """A minimal TokenCredential: client credentials at the emulator's token endpoint
    (by default its default tenant and client). Counts its calls."""

    def __init__(
        self,
        endpoint,
        cert,
        tenant="emulator",
        client_id="adu-emulator",
        client_secret="adu-emulator-secret",
    ):
        self.url = f"https://{endpoint}/{tenant}/oauth2/v2.0/token"
        self.client_id = client_id
        self.client_secret = client_secret
        self.cert = cert
        self.calls = 0

    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        response = requests.post(
            self.url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": " ".join(scopes),
            },
            verify=self.cert,
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


class RestoreColon(SansIOHTTPPolicy):
    """The client percent-encodes the endpoint (`localhost%3APORT`); put the colon back."""

    def on_request(self, request):
        request.http_request.url = re.sub(
            r"^https://([^/]*?)%3[Aa]", r"https://\1:", request.http_request.url
        )


class Exchange:
    """One request as sent and what came back: the path, the query (decoded), the status,
    the `Operation-Location` header and, for a list of operations, its body."""

    def __init__(self, method, url, status, operation_location, body):
        parts = urlsplit(url)
        self.method = method
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.status = status
        self.operation_location = operation_location
        self.body = body

    def __repr__(self):
        return f"{self.method} {self.path} {self.query} -> {self.status}"


class Recorder(SansIOHTTPPolicy):
    """Records every request that went over the wire (a per-retry policy sees each attempt).
    The body is kept only for a 200 to a list of operations (a path ending in `/operations`),
    which the client reads whole before any policy sees it."""

    def __init__(self):
        self.exchanges = []

    def on_response(self, request, response):
        http = response.http_response
        method = request.http_request.method
        url = request.http_request.url
        body = None
        if method == "GET" and urlsplit(url).path.endswith("/operations") and http.status_code == 200:
            body = json.loads(http.text())
        self.exchanges.append(
            Exchange(method, url, http.status_code, http.headers.get("Operation-Location"), body)
        )

    def mark(self):
        """Where the record stands now: pass it to `since` to see what a call sent."""
        return len(self.exchanges)

    def since(self, mark):
        return self.exchanges[mark:]
