//! Lists through the client: the emulator's pages followed to the end, `top` and filters,
//! and scripted loopback servers for `nextLink`s the client must refuse.

mod support;

use adu_emulator::{Config, FaultKind, FaultRule, OperationSpec, RunningEmulator, Timings};
use adu_transport::adu_model;
use adu_transport::{
    ApiVersion, DeviceUpdateClient, Error, ListOptions, OperationFilter, OperationKind,
    OperationStatus,
};
use futures_util::{StreamExt as _, TryStreamExt as _};
use support::{
    emulator_client, fast_retries, plain_http_transport, trusting_emulator, Reply, Server,
};

async fn emulator(page_size: usize, tls: bool) -> RunningEmulator {
    let mut config = Config::default().with_tls(tls);
    config.page_size = page_size;
    adu_emulator::start(config).await.unwrap()
}

fn client(emulator: &RunningEmulator, version: ApiVersion) -> DeviceUpdateClient {
    emulator_client(emulator)
        .hyper_transport(plain_http_transport())
        .api_version(version)
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

/// The ids the whole list yields, or its first error.
async fn ids(
    client: &DeviceUpdateClient,
    kind: OperationKind,
    options: ListOptions,
) -> Result<Vec<String>, Error> {
    let operations: Vec<_> = client.list_operations(kind, options).try_collect().await?;
    Ok(operations
        .iter()
        .map(|op| op.operation_id().to_owned())
        .collect())
}

fn done() -> OperationSpec {
    OperationSpec::succeeding().with_timings(Timings::immediate())
}

#[tokio::test]
async fn every_page_is_read_once_and_every_operation_comes_once_in_order() {
    let emulator = emulator(3, false).await;
    let added: Vec<String> = (0..20)
        .map(|i| emulator.add_operation(done().with_id(format!("op-{i:02}"))))
        .collect();
    for &version in ApiVersion::ALL {
        let client = client(&emulator, version);
        let before = emulator.stats().list_requests;
        let listed = ids(&client, OperationKind::Update, ListOptions::default()).await;
        assert_eq!(listed.unwrap(), added, "{version}");
        assert_eq!(
            emulator.stats().list_requests - before,
            7,
            "{version}: 20 in pages of 3"
        );

        let pages: Vec<Vec<_>> = client
            .list_operation_pages(OperationKind::Update, ListOptions::default())
            .try_collect()
            .await
            .unwrap();
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 3, 3, 3, 3, 2], "{version}");
        let legacy = matches!(pages[0][0], adu_model::AnyOperation::Legacy(_));
        assert_eq!(
            legacy,
            version == ApiVersion::V2,
            "{version}: read as its version"
        );
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_page_is_asked_for_only_when_the_one_before_is_used_up() {
    let emulator = emulator(2, false).await;
    for i in 0..9 {
        emulator.add_operation(done().with_id(format!("op-{i}")));
    }
    let client = client(&emulator, ApiVersion::default());
    let mut operations =
        std::pin::pin!(client.list_operations(OperationKind::Update, ListOptions::default()));
    assert_eq!(
        emulator.stats().list_requests,
        0,
        "nothing before the first poll"
    );
    let first = operations.next().await.unwrap().unwrap();
    assert_eq!(first.operation_id(), "op-0");
    assert_eq!(emulator.stats().list_requests, 1);
    operations.next().await.unwrap().unwrap();
    assert_eq!(
        emulator.stats().list_requests,
        1,
        "the page's second item needs no request"
    );
    let third = operations.next().await.unwrap().unwrap();
    assert_eq!(third.operation_id(), "op-2");
    assert_eq!(emulator.stats().list_requests, 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn top_and_status_filters_and_raw_filters() {
    let emulator = emulator(3, false).await;
    let running = || {
        let hour = std::time::Duration::from_secs(3600);
        OperationSpec::succeeding().with_timings(Timings::new(std::time::Duration::ZERO, hour))
    };
    let mut all = Vec::new();
    for i in 0..10 {
        let spec = match i % 3 {
            0 => running(),
            1 => done(),
            _ => OperationSpec::failing().with_timings(Timings::immediate()),
        };
        all.push(emulator.add_operation(spec.with_id(format!("op-{i}"))));
    }
    for &version in ApiVersion::ALL {
        let client = client(&emulator, version);
        let before = emulator.stats().list_requests;
        let top = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_top(5),
        )
        .await;
        assert_eq!(top.unwrap(), all[..5], "{version}");
        assert_eq!(
            emulator.stats().list_requests - before,
            2,
            "{version}: no page past top"
        );
        let top = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_top(3),
        )
        .await;
        assert_eq!(top.unwrap(), all[..3], "{version}");
        let top = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_top(100),
        )
        .await;
        assert_eq!(top.unwrap(), all, "{version}");

        let statuses =
            OperationFilter::Statuses(vec![OperationStatus::NotStarted, OperationStatus::Running]);
        let listed = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_filter(statuses),
        )
        .await;
        assert_eq!(
            listed.unwrap(),
            ["op-0", "op-3", "op-6", "op-9"],
            "{version}"
        );
        let statuses = OperationFilter::Statuses(vec![OperationStatus::Failed]);
        let options = ListOptions::default().with_filter(statuses).with_top(2);
        let listed = ids(&client, OperationKind::Update, options).await;
        assert_eq!(listed.unwrap(), ["op-2", "op-5"], "{version}");
        let raw = OperationFilter::Raw("status eq 'Succeeded'".to_owned());
        let listed = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_filter(raw),
        )
        .await;
        assert_eq!(listed.unwrap(), ["op-1", "op-4", "op-7"], "{version}");

        // A filter the service does not take is its 400, not retried.
        let before = emulator.stats().list_requests;
        let raw = OperationFilter::Raw("name eq 'x'".to_owned());
        let refused = ids(
            &client,
            OperationKind::Update,
            ListOptions::default().with_filter(raw),
        )
        .await;
        match refused {
            Err(Error::Service(e)) => assert_eq!(e.status().as_u16(), 400, "{version}"),
            other => panic!("{version}: {other:?}"),
        }
        assert_eq!(emulator.stats().list_requests - before, 1, "{version}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn device_operations_are_listed_in_the_current_versions_only() {
    let emulator = emulator(2, true).await;
    emulator.add_operation(done().with_id("update-0"));
    let devices: Vec<String> = (0..5)
        .map(|i| emulator.add_operation(done().device().with_id(format!("device-{i}"))))
        .collect();
    for &version in ApiVersion::ALL {
        // Over https, with the emulator's own certificate.
        let client = emulator_client(&emulator)
            .hyper_transport(trusting_emulator(&emulator))
            .api_version(version)
            .build()
            .unwrap();
        let before = emulator.stats().requests;
        let listed = ids(&client, OperationKind::Device, ListOptions::default()).await;
        if version.supports(OperationKind::Device) {
            assert_eq!(listed.unwrap(), devices, "{version}");
            let updates = ids(&client, OperationKind::Update, ListOptions::default()).await;
            assert_eq!(updates.unwrap(), ["update-0"], "{version}");
        } else {
            match listed {
                Err(Error::InvalidInput(adu_model::Error::UnsupportedKind { .. })) => {}
                other => panic!("{version}: {other:?}"),
            }
            assert_eq!(emulator.stats().requests, before, "nothing was sent");
        }
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_page_that_fails_for_a_passing_reason_is_read_again() {
    let mut config = Config::default();
    config.page_size = 2;
    config.faults.push(
        FaultRule::new(FaultKind::Status(500))
            .on_path("/updates/operations")
            .first(2),
    );
    let emulator = adu_emulator::start(config).await.unwrap();
    let added: Vec<String> = (0..5)
        .map(|i| emulator.add_operation(done().with_id(format!("op-{i}"))))
        .collect();
    let client = client(&emulator, ApiVersion::default());
    let listed = ids(&client, OperationKind::Update, ListOptions::default()).await;
    assert_eq!(listed.unwrap(), added);
    assert_eq!(emulator.stats().faults_injected, 2);
    let stats = emulator.stats();
    assert_eq!(stats.list_requests, 3, "3 pages answered");
    assert_eq!(stats.requests, 5, "the first page asked for 3 times");
    emulator.shutdown().await;
}

/// A page of `ids` (current API) with `next` as its `nextLink`.
fn page(ids: &[&str], next: Option<&str>) -> Reply {
    let items: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"operationId": id, "status": "Succeeded",
                "createdDateTime": "2026-06-02T10:00:00Z", "lastActionDateTime": "2026-06-02T10:01:00Z"})
        })
        .collect();
    let mut body = serde_json::json!({ "value": items });
    if let Some(next) = next {
        body["nextLink"] = serde_json::json!(next);
    }
    Reply::json(200, &body.to_string())
}

fn scripted_client(server: &Server) -> DeviceUpdateClient {
    let credential = std::sync::Arc::new(adu_auth::StaticTokenCredential::from_secret(
        "a-token-for-the-endpoint-only",
    ));
    DeviceUpdateClient::builder(server.url(), "blue", credential)
        .hyper_transport(plain_http_transport())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_nothing_is_sent_there() {
    let elsewhere = Server::start(vec![page(&["stolen"], None)]).await;
    let foreign = format!(
        "{}/deviceUpdate/blue/updates/operations?skipToken=1",
        elsewhere.url()
    );
    let server = Server::start(vec![
        page(
            &["a"],
            Some("/deviceUpdate/blue/updates/operations?skipToken=1"),
        ),
        page(&["b"], Some(&foreign)),
    ])
    .await;
    let client = scripted_client(&server);
    let mut operations =
        std::pin::pin!(client.list_operations(OperationKind::Update, ListOptions::default()));
    assert_eq!(
        operations.next().await.unwrap().unwrap().operation_id(),
        "a"
    );
    match operations.next().await {
        Some(Err(Error::InvalidInput(adu_model::Error::ForeignNextLink { origin, .. }))) => {
            assert_eq!(origin, elsewhere.url());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        operations.next().await.is_none(),
        "the stream ends after its error"
    );
    assert_eq!(
        elsewhere.requests(),
        0,
        "no request, so no token, went there"
    );
    assert_eq!(server.requests(), 2);
    // The relative link was resolved on the endpoint, with the API version kept.
    let second = &server.seen()[1].uri;
    assert_eq!(
        second.to_string(),
        format!(
            "/deviceUpdate/blue/updates/operations?skipToken=1&api-version={}",
            ApiVersion::default()
        )
    );
}

#[tokio::test]
async fn a_next_link_that_loops_ends_the_list_with_an_error() {
    let server = Server::start_with(|index, _| {
        // Page 1 links to page 2, which links back to page 1 (as absolute URLs on the endpoint).
        let base = "/deviceUpdate/blue/updates/operations";
        match index {
            0 => page(
                &["a"],
                Some(&format!("{base}?skipToken=2&api-version=2026-06-01")),
            ),
            1 => page(&["b"], Some(&format!("{base}?api-version=2026-06-01"))),
            _ => page(&["again"], None),
        }
    })
    .await;
    let client = scripted_client(&server);
    let items: Vec<_> = client
        .list_operations(OperationKind::Update, ListOptions::default())
        .collect()
        .await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().operation_id(), "a");
    match &items[1] {
        Err(Error::InvalidInput(adu_model::Error::InvalidNextLink { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.requests(),
        2,
        "the page read before is not read again"
    );

    // A link to the very page it is on ends the list the same way.
    let server = Server::start(vec![page(
        &["x"],
        Some("/deviceUpdate/blue/updates/operations?api-version=2026-06-01"),
    )])
    .await;
    let listed = ids(
        &scripted_client(&server),
        OperationKind::Update,
        ListOptions::default(),
    )
    .await;
    assert!(
        matches!(
            listed,
            Err(Error::InvalidInput(
                adu_model::Error::InvalidNextLink { .. }
            ))
        ),
        "{listed:?}"
    );
    assert_eq!(server.requests(), 1);
}
