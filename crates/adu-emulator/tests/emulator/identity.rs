//! The managed-identity endpoints: App Service's (`/msi/token`, `X-IDENTITY-HEADER`), the
//! VM metadata service's (`/metadata/identity/oauth2/token`, `Metadata: true`) and Cloud
//! Shell's (`POST /oauth2/token`, a form, `Metadata: true`).

use adu_emulator::{Config, OperationSpec, RunningEmulator};
use serde_json::json;

use crate::common::*;
use crate::jwt::now_secs;

const RESOURCE: &str = "https%3A%2F%2Fapi.adu.microsoft.com";
const HEADER: &str = "s3cret-identity-header";
const UAMI: &str = "9f1c2d3e-0000-4000-8000-00000000uami";
const UAMI_OBJECT: &str = "5e6f7a8b-0000-4000-8000-0000000object";
const UAMI_RESOURCE: &str = "/subscriptions/0000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/adu";

/// Request headers, as (name, value) pairs.
type Headers<'a> = &'a [(&'a str, &'a str)];

async fn emulator(system_assigned: bool) -> RunningEmulator {
    let client_id = system_assigned.then_some("system-mi");
    let scenario = json!({ "managedIdentity": {
        "identityHeader": HEADER,
        "clientId": client_id,
        "userAssigned": [ { "clientId": UAMI, "objectId": UAMI_OBJECT, "resourceId": UAMI_RESOURCE } ],
    } });
    let config = Config::from_scenario_json(&scenario.to_string()).unwrap();
    adu_emulator::start(config).await.unwrap()
}

async fn call(emu: &RunningEmulator, path: &str, headers: &[(&str, &str)]) -> Answer {
    send_req(emu.addr(), request("GET", path, headers, b""))
        .await
        .unwrap()
}

/// Checks a token answer: strings for the times, the resource and client id, and a token the
/// API accepts.
async fn assert_token(emu: &RunningEmulator, a: &Answer, client_id: &str) -> serde_json::Value {
    assert_eq!(a.status, 200, "{:?}", a.body);
    let body = a.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://api.adu.microsoft.com");
    assert_eq!(body["client_id"], client_id);
    let expires_on: i64 = body["expires_on"]
        .as_str()
        .expect("a string")
        .parse()
        .unwrap();
    assert!(
        (expires_on - (now_secs() + 3599)).abs() <= 5,
        "{expires_on}"
    );
    let token = body["access_token"].as_str().unwrap();
    let id = emu.add_operation(OperationSpec::succeeding());
    assert_eq!(get(emu.addr(), &current_path(&id), token).await.status, 200);
    body
}

#[tokio::test]
async fn app_service_shape_issues_tokens_the_api_accepts() {
    let emu = emulator(true).await;
    assert_eq!(
        emu.identity_endpoint(),
        format!("{}/msi/token", emu.base_url())
    );
    let header = [("x-identity-header", HEADER)];
    let path = format!("/msi/token?api-version=2019-08-01&resource={RESOURCE}");
    let body = assert_token(&emu, &call(&emu, &path, &header).await, "system-mi").await;
    assert!(
        body.get("expires_in").is_none(),
        "App Service sends expires_on only"
    );
    // IDENTITY_ENDPOINT may end with a slash.
    let slash = format!("/msi/token/?api-version=2019-08-01&resource={RESOURCE}");
    assert_token(&emu, &call(&emu, &slash, &header).await, "system-mi").await;
    // A user-assigned identity, by each of its ids.
    let escaped_resource = UAMI_RESOURCE.replace('/', "%2F");
    for by in [
        format!("client_id={UAMI}"),
        format!("object_id={UAMI_OBJECT}"),
        format!("mi_res_id={escaped_resource}"),
    ] {
        assert_token(
            &emu,
            &call(&emu, &format!("{path}&{by}"), &header).await,
            UAMI,
        )
        .await;
    }
    assert_eq!(emu.stats().identity_requests, 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn app_service_shape_refusals() {
    let emu = emulator(false).await;
    let path = format!("/msi/token?api-version=2019-08-01&resource={RESOURCE}");
    let good = [("x-identity-header", HEADER)];
    let cases: [(String, Headers<'_>, u16, &str); 7] = [
        (
            path.clone(),
            &[],
            400,
            "X-IDENTITY-HEADER header is missing",
        ),
        (
            path.clone(),
            &[("x-identity-header", "wrong")],
            401,
            "not valid",
        ),
        (
            format!("/msi/token?api-version=2017-09-01&resource={RESOURCE}"),
            &good,
            400,
            "2019-08-01",
        ),
        (
            "/msi/token?api-version=2019-08-01".to_owned(),
            &good,
            400,
            "resource",
        ),
        (
            format!("{path}&client_id=unknown"),
            &good,
            400,
            "No User Assigned or Delegated Managed Identity found",
        ),
        (
            format!("{path}&client_id={UAMI}&object_id={UAMI_OBJECT}"),
            &good,
            400,
            "Only one of",
        ),
        // This host has no system-assigned identity.
        (
            path.clone(),
            &good,
            400,
            "No User Assigned or Delegated Managed Identity found",
        ),
    ];
    for (path, headers, status, message) in &cases {
        let a = call(&emu, path, headers).await;
        assert_eq!(a.status, *status, "{path}: {:?}", a.body);
        let body = a.json();
        assert_eq!(body["statusCode"], *status);
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
        assert!(body["correlationId"].is_string());
        assert!(!String::from_utf8_lossy(&a.body).contains(HEADER));
    }
    assert_eq!(emu.stats().tokens_issued, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn imds_shape_issues_tokens_the_api_accepts() {
    let emu = emulator(true).await;
    let metadata = [("metadata", "true")];
    for version in ["2018-02-01", "2019-08-01"] {
        let path =
            format!("/metadata/identity/oauth2/token?api-version={version}&resource={RESOURCE}");
        let body = assert_token(&emu, &call(&emu, &path, &metadata).await, "system-mi").await;
        assert_eq!(body["expires_in"], "3599", "IMDS sends strings");
        let (on, before): (i64, i64) = (
            body["expires_on"].as_str().unwrap().parse().unwrap(),
            body["not_before"].as_str().unwrap().parse().unwrap(),
        );
        assert_eq!(on - before, 3599);
    }
    let escaped_resource = UAMI_RESOURCE.replace('/', "%2F");
    let base =
        format!("/metadata/identity/oauth2/token?api-version=2018-02-01&resource={RESOURCE}");
    for by in [
        format!("client_id={UAMI}"),
        format!("object_id={UAMI_OBJECT}"),
        format!("msi_res_id={escaped_resource}"),
    ] {
        let a = call(&emu, &format!("{base}&{by}"), &[("Metadata", "True")]).await;
        assert_token(&emu, &a, UAMI).await;
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn imds_shape_refusals() {
    let emu = emulator(false).await;
    let path =
        format!("/metadata/identity/oauth2/token?api-version=2018-02-01&resource={RESOURCE}");
    let metadata = [("metadata", "true")];
    let cases: [(String, Headers<'_>, &str); 7] = [
        (path.clone(), &[], "Required metadata header not specified"),
        (
            path.clone(),
            &[("metadata", "false")],
            "Required metadata header not specified",
        ),
        (
            format!("/metadata/identity/oauth2/token?resource={RESOURCE}"),
            &metadata,
            "Required query variable 'api-version' is missing",
        ),
        (
            format!("/metadata/identity/oauth2/token?api-version=2030-01-01&resource={RESOURCE}"),
            &metadata,
            "Invalid API version",
        ),
        (
            "/metadata/identity/oauth2/token?api-version=2018-02-01".to_owned(),
            &metadata,
            "Required query variable 'resource' is missing",
        ),
        (
            format!("{path}&client_id=00000000-unassigned"),
            &metadata,
            "Identity not found",
        ),
        // No system-assigned identity on this host.
        (path.clone(), &metadata, "Identity not found"),
    ];
    for (path, headers, description) in &cases {
        let a = call(&emu, path, headers).await;
        assert_eq!(a.status, 400, "{path}: {:?}", a.body);
        assert_eq!(
            a.json(),
            json!({ "error": "invalid_request", "error_description": description })
        );
    }
    // Only GET.
    let post = send_req(emu.addr(), request("POST", &path, &metadata, b""))
        .await
        .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(emu.stats().tokens_issued, 0);
    emu.shutdown().await;
}

async fn cloud_shell(emu: &RunningEmulator, headers: Headers<'_>, form: &str) -> Answer {
    let req = request("POST", "/oauth2/token", headers, form.as_bytes());
    send_req(emu.addr(), req).await.unwrap()
}

#[tokio::test]
async fn cloud_shell_shape_issues_tokens_the_api_accepts_and_refuses_the_rest() {
    let emu = emulator(true).await;
    let metadata = [
        ("metadata", "true"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let form = format!("resource={RESOURCE}");
    let body = assert_token(
        &emu,
        &cloud_shell(&emu, &metadata, &form).await,
        "system-mi",
    )
    .await;
    assert_eq!(body["expires_in"], "3599", "strings, as from IMDS");
    let by_client = format!("{form}&client_id={UAMI}");
    let cases: [(&str, Headers<'_>, &str); 3] = [
        (&form, &[], "Required metadata header not specified"),
        ("", &metadata, "Required form field 'resource' is missing"),
        (
            &by_client,
            &metadata,
            "User-assigned identities are not supported in Cloud Shell",
        ),
    ];
    for (form, headers, description) in cases {
        let a = cloud_shell(&emu, headers, form).await;
        assert_eq!(a.status, 400, "{form}: {:?}", a.body);
        assert_eq!(
            a.json(),
            json!({ "error": "invalid_request", "error_description": description })
        );
    }
    // Only POST.
    let get = call(&emu, &format!("/oauth2/token?{form}"), &metadata).await;
    assert_eq!(get.status, 405);
    assert_eq!(emu.stats().tokens_issued, 1);
    assert_eq!(emu.stats().identity_requests, 4);
    emu.shutdown().await;
    // A host without a system-assigned identity has none to give.
    let emu = emulator(false).await;
    let a = cloud_shell(&emu, &metadata, &form).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error_description"], "Identity not found");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_default_host_has_a_system_assigned_identity() {
    let emu = adu_emulator::start(Config::default()).await.unwrap();
    let mi = emu.managed_identity();
    assert_eq!(mi.identity_header, adu_emulator::DEFAULT_IDENTITY_HEADER);
    let header = [("x-identity-header", adu_emulator::DEFAULT_IDENTITY_HEADER)];
    let path = format!("/msi/token?api-version=2019-08-01&resource={RESOURCE}");
    let a = call(&emu, &path, &header).await;
    assert_token(&emu, &a, adu_emulator::DEFAULT_MANAGED_IDENTITY_CLIENT_ID).await;
    emu.shutdown().await;
}

#[test]
fn scenarios_check_the_managed_identity() {
    let err =
        Config::from_scenario_json(r#"{"managedIdentity": {"identityHeader": ""}}"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("`identityHeader` must be non-empty"),
        "{err}"
    );
    let err =
        Config::from_scenario_json(r#"{"managedIdentity": {"userAssigned": [{"objectId": "o"}]}}"#)
            .unwrap_err();
    assert!(err.to_string().contains("clientId"), "{err}");
    let config =
        Config::from_scenario_json(r#"{"managedIdentity": {"identityHeader": "h-7Qx"}}"#).unwrap();
    assert_eq!(
        config.managed_identity.client_id.as_deref(),
        Some(adu_emulator::DEFAULT_MANAGED_IDENTITY_CLIENT_ID)
    );
    assert!(!format!("{config:?}").contains("h-7Qx"));
}
