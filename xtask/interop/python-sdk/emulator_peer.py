"""What both peers of the Python client share: a token credential for the
emulator's token endpoint and the URL fix-up its endpoint needs."""

import re
import time

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
