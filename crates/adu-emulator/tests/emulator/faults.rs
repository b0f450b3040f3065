//! Fault injection: 5xx, latency, resets, truncated and stalled bodies.

use std::time::Duration;

use adu_emulator::{Config, FaultKind, FaultRule, OperationSpec, Timings};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use crate::common::*;

async fn with_fault(rule: FaultRule) -> (adu_emulator::RunningEmulator, String, String) {
    let mut config = Config::default().with_fault(rule);
    config.seed = Some(7);
    let emu = adu_emulator::start(config).await.unwrap();
    let id = emu.add_operation(OperationSpec::succeeding().with_timings(Timings::immediate()));
    let token = emu.issue_token();
    (emu, id, token)
}

/// GETs operation `id`, returning as soon as the headers come (the body streams in after).
async fn get_streamed(
    emu: &adu_emulator::RunningEmulator,
    id: &str,
    token: &str,
) -> http::Response<hyper::body::Incoming> {
    let tcp = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let auth = format!("Bearer {token}");
    let get = request("GET", &current_path(id), &[("authorization", &auth)], b"");
    sender.send_request(get).await.unwrap()
}

#[tokio::test]
async fn status_faults_hit_the_first_n_requests() {
    let rule = FaultRule::new(FaultKind::Status(503))
        .on_path("/updates/operations/")
        .first(2);
    let (emu, id, token) = with_fault(rule).await;
    for _ in 0..2 {
        let a = get(emu.addr(), &current_path(&id), &token).await;
        assert_eq!(a.status, 503);
        assert_eq!(a.header("retry-after"), Some("1"));
        assert!(a.json()["error"]["code"].is_string());
    }
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        200
    );
    assert_eq!(emu.stats().faults_injected, 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn status_faults_with_a_probability_are_repeatable_when_seeded() {
    let run = || async {
        let mut rule = FaultRule::new(FaultKind::Status(500));
        rule.probability = 0.5;
        let (emu, id, token) = with_fault(rule).await;
        let mut statuses = Vec::new();
        for _ in 0..24 {
            statuses.push(
                get(emu.addr(), &current_path(&id), &token)
                    .await
                    .status
                    .as_u16(),
            );
        }
        emu.shutdown().await;
        statuses
    };
    let (a, b) = (run().await, run().await);
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn reset_drops_the_connection_without_an_answer() {
    let (emu, id, token) = with_fault(FaultRule::new(FaultKind::Reset).first(1)).await;
    let auth = format!("Bearer {token}");
    let err = send_req(
        emu.addr(),
        request("GET", &current_path(&id), &[("authorization", &auth)], b""),
    )
    .await
    .unwrap_err();
    let text = format!("{err:?}");
    assert!(
        text.contains("Incomplete") || text.contains("reset") || text.contains("Reset"),
        "{text}"
    );
    // A raw read sees the RST (not an orderly end of stream).
    let (emu2, id2, token2) = with_fault(FaultRule::new(FaultKind::Reset)).await;
    let mut tcp = tokio::net::TcpStream::connect(emu2.addr()).await.unwrap();
    let raw = format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token2}\r\n\r\n",
        current_path(&id2)
    );
    tokio::io::AsyncWriteExt::write_all(&mut tcp, raw.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut answer).await;
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "{answer:?}"
    );
    emu2.shutdown().await;
    // Only the first request was hit.
    assert_eq!(
        get(emu.addr(), &current_path(&id), &token).await.status,
        200
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn truncate_cuts_the_body_short_of_its_content_length() {
    let (emu, id, token) = with_fault(FaultRule::new(FaultKind::Truncate)).await;
    let resp = get_streamed(&emu, &id, &token).await;
    assert_eq!(resp.status(), 200);
    let announced: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced > 100);
    let mut body = resp.into_body();
    let mut got = 0;
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => got += f.data_ref().map_or(0, |d| d.len()),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end in an error");
    assert!(got < announced, "{got} of {announced}");
    emu.shutdown().await;
}

#[tokio::test]
async fn stall_sends_the_headers_and_half_then_the_rest_after_the_stall() {
    let stall = Duration::from_secs(3600);
    let (emu, id, token) = with_fault(FaultRule::new(FaultKind::Stall(stall))).await;
    let resp = get_streamed(&emu, &id, &token).await;
    // The headers and half of the body come at once, an hour before the rest.
    assert_eq!(resp.status(), 200);
    let announced: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first.len(), announced / 2);
    // With the clock paused, tokio moves it to the end of the stall once all is idle: the
    // rest then comes, and the whole body is the operation.
    tokio::time::pause();
    let paused_at = tokio::time::Instant::now();
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(
        paused_at.elapsed() >= stall / 2,
        "the rest came before the stall ended"
    );
    let mut whole = first.to_vec();
    whole.extend_from_slice(&rest);
    assert_eq!(whole.len(), announced);
    let json: serde_json::Value = serde_json::from_slice(&whole).unwrap();
    assert_eq!(json["operationId"], id.as_str());
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_cuts_a_stalled_body() {
    let (emu, id, token) =
        with_fault(FaultRule::new(FaultKind::Stall(Duration::from_secs(3600)))).await;
    let resp = get_streamed(&emu, &id, &token).await;
    // An hour-long stall: the test ends only if shutdown cuts it.
    let reader = tokio::spawn(async move { resp.into_body().collect().await.is_err() });
    emu.shutdown().await;
    assert!(reader.await.unwrap(), "the stalled body ends in an error");
}
