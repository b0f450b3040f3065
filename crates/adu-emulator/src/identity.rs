//! The managed-identity endpoints of an Azure host, on loopback: App Service's
//! (`GET /msi/token`, what `IDENTITY_ENDPOINT` names, with `X-IDENTITY-HEADER`) and the VM
//! metadata service's (`GET /metadata/identity/oauth2/token` with `Metadata: true`, what
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` redirects Azure's libraries to) and Cloud Shell's
//! (`POST /oauth2/token`, what `MSI_ENDPOINT` names, with the form `resource=...` and
//! `Metadata: true`). Their tokens are the token endpoint's, so the API accepts them.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::config::ManagedIdentity;
use crate::routes::{first_value, parse_pairs};
use crate::state::State;
use crate::token::no_store;

/// The App Service endpoint's one API version with `X-IDENTITY-HEADER` and `expires_on` in
/// Unix seconds.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// The metadata service's API versions the emulator answers.
const IMDS_API_VERSIONS: [&str; 2] = ["2018-02-01", "2019-08-01"];

type Pairs<'q> = [(Cow<'q, str>, Cow<'q, str>)];

fn json_answer(status: StatusCode, body: &Value) -> Response<Bytes> {
    let body = Bytes::from(body.to_string());
    no_store(status, Some("application/json; charset=utf-8"), body)
}

/// Which identity a request asks for: by one of `names` (client id, object id, resource id),
/// else the system-assigned one. `Err(true)` when it named more than one.
fn pick<'m>(
    mi: &'m ManagedIdentity,
    params: &Pairs<'_>,
    names: [&[&str]; 3],
) -> Result<Option<&'m str>, bool> {
    let [client, object, resource] =
        names.map(|names| names.iter().find_map(|n| first_value(params, n)));
    if [client, object, resource].iter().flatten().count() > 1 {
        return Err(true);
    }
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let found = mi.user_assigned.iter().find(|u| {
        client.is_some_and(|c| same(c, &u.client_id))
            || object.is_some_and(|o| u.object_id.as_deref().is_some_and(|id| same(o, id)))
            || resource.is_some_and(|r| u.resource_id.as_deref().is_some_and(|id| same(r, id)))
    });
    match (client.or(object).or(resource), found) {
        (Some(_), Some(u)) => Ok(Some(&u.client_id)),
        (Some(_), None) => Ok(None),
        (None, _) => Ok(mi.client_id.as_deref()),
    }
}

/// A token for `client_id`: the token itself, its lifetime and its expiry (Unix seconds).
fn issue(state: &State, client_id: &str, now: SystemTime) -> (String, u64, u64) {
    let lifetime = state.config.token_lifetime.as_secs();
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    (
        state.issue_token(client_id, now),
        lifetime,
        since_epoch + lifetime,
    )
}

/// `GET /msi/token?api-version=2019-08-01&resource=...[&client_id=|object_id=|mi_res_id=]`
/// with `X-IDENTITY-HEADER`; errors in App Service's `{"statusCode", "message",
/// "correlationId"}` shape.
pub(crate) fn app_service(
    state: &State,
    headers: &HeaderMap,
    query: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let refuse = |status: StatusCode, message: &str| {
        let body = json!({
            "statusCode": status.as_u16(),
            "message": message,
            "correlationId": Uuid::new_v4().to_string(),
        });
        json_answer(status, &body)
    };
    let mi = &state.config.managed_identity;
    let Some(header) = headers.get("x-identity-header") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The X-IDENTITY-HEADER header is missing.",
        );
    };
    // Compared in constant time (`subtle`): it is the host's secret.
    if !bool::from(header.as_bytes().ct_eq(mi.identity_header.as_bytes())) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is not valid.",
        );
    }
    let params = parse_pairs(query);
    if first_value(&params, "api-version") != Some(APP_SERVICE_API_VERSION) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The api-version is missing or not supported; use 2019-08-01.",
        );
    }
    let Some(resource) = first_value(&params, "resource").filter(|r| !r.is_empty()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The resource parameter is required.",
        );
    };
    let names = [
        &["client_id"][..],
        &["object_id", "principal_id"],
        &["mi_res_id"],
    ];
    let client_id = match pick(mi, &params, names) {
        Ok(Some(client_id)) => client_id,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "Only one of client_id, object_id and mi_res_id may be given."),
        Ok(None) => return refuse(StatusCode::BAD_REQUEST, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."),
    };
    let (token, _, expires_on) = issue(state, client_id, now);
    json_answer(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}

/// A 400 in the metadata service's `{"error", "error_description"}` shape.
fn metadata_refuse(description: &str) -> Response<Bytes> {
    let body = json!({ "error": "invalid_request", "error_description": description });
    json_answer(StatusCode::BAD_REQUEST, &body)
}

/// The metadata service's refusal of a request without `Metadata: true`, if it has none.
fn metadata_refusal(headers: &HeaderMap) -> Option<Response<Bytes>> {
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    (!metadata.is_some_and(|v| v.eq_ignore_ascii_case("true")))
        .then(|| metadata_refuse("Required metadata header not specified"))
}

/// `GET /metadata/identity/oauth2/token?api-version=...&resource=...[&client_id=|object_id=|
/// msi_res_id=]` with `Metadata: true`; errors in the metadata service's `{"error",
/// "error_description"}` shape.
pub(crate) fn imds(
    state: &State,
    headers: &HeaderMap,
    query: &str,
    now: SystemTime,
) -> Response<Bytes> {
    if let Some(refusal) = metadata_refusal(headers) {
        return refusal;
    }
    let params = parse_pairs(query);
    match first_value(&params, "api-version") {
        None => return metadata_refuse("Required query variable 'api-version' is missing"),
        Some(v) if !IMDS_API_VERSIONS.contains(&v) => {
            return metadata_refuse("Invalid API version")
        }
        Some(_) => {}
    }
    let Some(resource) = first_value(&params, "resource").filter(|r| !r.is_empty()) else {
        return metadata_refuse("Required query variable 'resource' is missing");
    };
    let names = [
        &["client_id"][..],
        &["object_id"],
        &["msi_res_id", "mi_res_id"],
    ];
    let client_id = match pick(&state.config.managed_identity, &params, names) {
        Ok(Some(client_id)) => client_id,
        Err(_) => return metadata_refuse("Multiple identities specified"),
        Ok(None) => return metadata_refuse("Identity not found"),
    };
    metadata_token(state, client_id, resource, now)
}

/// `POST /oauth2/token` with the form `resource=...` and `Metadata: true`: Cloud Shell's
/// endpoint (what `MSI_ENDPOINT` names), answering and refusing as the metadata service does.
/// Cloud Shell has only its own identity, so a user-assigned id is refused.
pub(crate) fn cloud_shell(
    state: &State,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Response<Bytes> {
    if let Some(refusal) = metadata_refusal(headers) {
        return refusal;
    }
    let params = parse_pairs(std::str::from_utf8(body).unwrap_or_default());
    let Some(resource) = first_value(&params, "resource").filter(|r| !r.is_empty()) else {
        return metadata_refuse("Required form field 'resource' is missing");
    };
    let ids = ["client_id", "object_id", "msi_res_id", "mi_res_id"];
    if ids.iter().any(|id| first_value(&params, id).is_some()) {
        return metadata_refuse("User-assigned identities are not supported in Cloud Shell");
    }
    match state.config.managed_identity.client_id.as_deref() {
        Some(client_id) => metadata_token(state, client_id, resource, now),
        None => metadata_refuse("Identity not found"),
    }
}

/// A token answer in the metadata service's shape (Cloud Shell's too): every number a string.
fn metadata_token(
    state: &State,
    client_id: &str,
    resource: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let (token, lifetime, expires_on) = issue(state, client_id, now);
    json_answer(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "refresh_token": "",
            "expires_in": lifetime.to_string(),
            "expires_on": expires_on.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": (expires_on - lifetime).to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}
