"""An OAuth2 authorization server built on the authlib library, serving
Azure-style paths (/{tenant}/oauth2/v2.0/token and /authorize), for
`cargo xtask interop`.

Every grant: client credentials, password, authorization code with PKCE
(S256 required), refresh token (rotating) and real implicit. Client secrets
are checked; errors are RFC 6749 JSON. The authorize endpoint approves at once
for the fixed user (a non-interactive sign-in).

The client `adu-certificate` authenticates with `private_key_jwt` (RFC 7523
client assertions, authlib's JWTBearerClientAssertion): the RS256 signature
against its registered certificate's public key, `iss` = `sub` = the client
id, `aud` equal to this server's token URL, `exp` and a `jti` never seen
before; then the `x5t` header against the certificate's SHA-1 thumbprint, as
Entra ID checks it. Its certificate and RSA key are made at start and written
(PEM, certificate then PKCS#8 key) to INTEROP_CLIENT_CERT_FILE for the tests:
a test key is not a secret.

Prints `READY http://127.0.0.1:PORT` once it listens (port 0 = any free port).
"""

import base64
import datetime
import os
import secrets
import sys
import time

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback http only

from authlib.integrations.flask_oauth2 import AuthorizationServer  # noqa: E402
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, grants  # noqa: E402
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from flask import Flask, request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

TENANT = os.environ.get("INTEROP_TENANT", "interop-tenant")
REDIRECT_URI = os.environ.get("INTEROP_REDIRECT_URI", "http://localhost:8400/callback")
CONFIDENTIAL_ID = "adu-confidential"
CONFIDENTIAL_SECRET = os.environ.get("INTEROP_CLIENT_SECRET", "interop-secret")
PUBLIC_ID = "adu-public"
CERTIFICATE_ID = "adu-certificate"
USERS = {"alice@interop.test": os.environ.get("INTEROP_USER_PASSWORD", "alice-password")}


class User:
    def __init__(self, name):
        self.name = name

    def get_user_id(self):
        return self.name


class Client(ClientMixin):
    def __init__(self, client_id, secret, auth_method, grant_types, response_types, cert=None):
        self.client_id = client_id
        self.secret = secret
        self.auth_method = auth_method
        self.grant_types = grant_types
        self.response_types = response_types
        self.certificate = cert  # the x509.Certificate of a private_key_jwt client

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return REDIRECT_URI

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == REDIRECT_URI

    def check_client_secret(self, client_secret):
        return self.secret is not None and secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method == self.auth_method
        return True

    def check_response_type(self, response_type):
        return response_type in self.response_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


def make_certificate():
    """A self-signed RSA-2048 certificate and its key, valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_ID)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def thumbprint(cert):
    """The `x5t` of a certificate: base64url SHA-1 of its DER, unpadded."""
    digest = cert.fingerprint(hashes.SHA1())  # noqa: S303 (x5t is SHA-1 by definition)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


CLIENT_CERT, CLIENT_KEY = make_certificate()

CLIENTS = {
    CONFIDENTIAL_ID: Client(
        CONFIDENTIAL_ID,
        CONFIDENTIAL_SECRET,
        "client_secret_post",
        ["client_credentials", "authorization_code", "refresh_token", "password"],
        ["code"],
    ),
    PUBLIC_ID: Client(
        PUBLIC_ID,
        None,
        "none",
        ["authorization_code", "refresh_token", "password", "implicit"],
        ["code", "token"],
    ),
    CERTIFICATE_ID: Client(
        CERTIFICATE_ID,
        None,
        "private_key_jwt",
        ["client_credentials"],
        [],
        CLIENT_CERT,
    ),
}
# An `x5c` header carries the certificate (about 1.4 KB for RSA-2048), past joserfc's 512-byte
# default header limit; Entra ID accepts such headers, so this server does too.
JWSRegistry.max_header_length = 8192

TOKEN_URL = None  # this server's token URL, the only `aud` accepted (set once bound)
SEEN_JTI = set()


class PrivateKeyJWT(JWTBearerClientAssertion):
    """`private_key_jwt` at the token endpoint, verified by authlib."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        return [TOKEN_URL]

    def validate_jti(self, claims, jti):
        key = (claims["sub"], jti)
        if key in SEEN_JTI:
            return False
        SEEN_JTI.add(key)
        return True

    def resolve_client_public_key(self, client):
        if client.certificate is None:
            raise InvalidClientError(description="The client has no registered certificate.")
        return RSAKey.import_key(client.certificate.public_key())

    def process_assertion_claims(self, assertion, resolve_key):
        # The signature and claims first (authlib), then the certificate's thumbprint.
        claims = super().process_assertion_claims(assertion, resolve_key)
        headers, _ = self.extract_assertion(assertion)
        if headers.get("x5t") != thumbprint(CLIENTS[claims["sub"]].certificate):
            raise InvalidClientError(description="The x5t header names no registered certificate.")
        return claims


class Code:
    def __init__(self, code, client_id, redirect_uri, scope, user, challenge, method):
        self.code = code
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.user = user
        self.code_challenge = challenge
        self.code_challenge_method = method
        self.expires_at = time.time() + 300

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class Refresh:
    def __init__(self, value, client_id, scope, user):
        self.value = value
        self.client_id = client_id
        self.scope = scope
        self.user = user
        self.revoked = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return 86400

    def is_expired(self):
        return False

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user


CODES = {}
REFRESH = {}
AUTH_METHODS = ["client_secret_post", "none"]


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_user(self, username, password):
        expected = USERS.get(username)
        if expected is not None and secrets.compare_digest(password, expected):
            return User(username)
        return None


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS + ["private_key_jwt"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, req):
        data = req.payload.data
        CODES[code] = Code(
            code,
            req.client.get_client_id(),
            req.payload.redirect_uri,
            req.payload.scope,
            req.user,
            data.get("code_challenge"),
            data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code, client):
        item = CODES.get(code)
        if item and item.client_id == client.get_client_id() and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        CODES.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        item = REFRESH.get(refresh_token)
        if item and not item.revoked:
            return item
        return None

    def authenticate_user(self, credential):
        return credential.user

    def revoke_old_credential(self, refresh_token):
        refresh_token.revoked = True


def query_client(client_id):
    return CLIENTS.get(client_id)


def save_token(token, req):
    if "refresh_token" in token:
        REFRESH[token["refresh_token"]] = Refresh(
            token["refresh_token"], req.client.get_client_id(), token.get("scope"), req.user
        )


app = Flask(__name__)
app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
    "client_credentials": 3600,
    "password": 3600,
    "authorization_code": 3600,
    "refresh_token": 3600,
    "implicit": 3600,
}
app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
server.register_grant(ClientCredentialsGrant)
server.register_grant(PasswordGrant)
server.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_grant(grants.ImplicitGrant)
server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())


def check_tenant(tenant):
    if tenant != TENANT:
        return {"error": "invalid_request", "error_description": f"unknown tenant {tenant}"}, 400
    return None


@app.route("/<tenant>/oauth2/v2.0/token", methods=["POST"])
def token(tenant):
    return check_tenant(tenant) or server.create_token_response()


@app.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET"])
def authorize(tenant):
    refused = check_tenant(tenant)
    if refused:
        return refused
    user = User(next(iter(USERS)))
    try:
        grant = server.get_consent_grant(end_user=user)
    except Exception as error:  # an OAuth2Error: answer it as authlib would
        return server.handle_error_response(request, error)
    return server.create_authorization_response(grant_user=user, grant=grant)


def write_client_certificate(path):
    pem = CLIENT_CERT.public_bytes(serialization.Encoding.PEM) + CLIENT_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open(path, "wb") as out:
        out.write(pem)


def main():
    global TOKEN_URL
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    TOKEN_URL = f"http://127.0.0.1:{httpd.server_port}/{TENANT}/oauth2/v2.0/token"
    if os.environ.get("INTEROP_CLIENT_CERT_FILE"):
        write_client_certificate(os.environ["INTEROP_CLIENT_CERT_FILE"])
    print(f"READY http://127.0.0.1:{httpd.server_port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
