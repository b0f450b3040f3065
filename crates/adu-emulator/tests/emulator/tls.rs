//! https with the generated certificate.

use adu_emulator::{Config, OperationSpec};

use crate::common::*;

#[tokio::test]
async fn https_with_the_generated_certificate() {
    let emu = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    assert_eq!(
        emu.base_url(),
        format!("https://localhost:{}", emu.addr().port())
    );
    let pem = emu.certificate_pem().unwrap().to_owned();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let id = emu.add_operation(OperationSpec::succeeding());
    let auth = format!("Bearer {}", emu.issue_token());
    let a = send_tls(
        emu.addr(),
        &pem,
        request("GET", &current_path(&id), &[("authorization", &auth)], b""),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["operationId"], id.as_str());

    // A client that does not trust the certificate is refused.
    let other = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let wrong_pem = other.certificate_pem().unwrap().to_owned();
    let err = send_tls(
        emu.addr(),
        &wrong_pem,
        request("GET", &current_path(&id), &[], b""),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err}").to_lowercase().contains("certificate"),
        "{err}"
    );
    other.shutdown().await;

    let dir = std::env::temp_dir().join(format!("adu-emulator-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cert.pem");
    emu.write_certificate(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
    std::fs::remove_dir_all(&dir).unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn the_post_quantum_hybrid_group_is_negotiated_by_default() {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer, ServerName};
    let emu = adu_emulator::start(Config::default().with_tls(true))
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(emu.certificate_pem().unwrap().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    // rustls' default aws-lc-rs provider, as adu-transport's HyperTransport builds it.
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let group = tls.get_ref().1.negotiated_key_exchange_group().unwrap();
    assert_eq!(group.name(), rustls::NamedGroup::X25519MLKEM768);
}
