//! The loopback redirect listener, driven by a plain HTTP client playing the browser.

mod support;

use adu_transport::login::{LoopbackRedirectListener, RedirectMode};
use adu_transport::{HttpTransport, HyperTransport};

fn browser() -> HyperTransport {
    support::plain_http_transport().build().unwrap()
}

#[tokio::test]
async fn the_authorization_code_arrives_in_the_query() {
    let listener = LoopbackRedirectListener::bind("/callback").await.unwrap();
    let uri = listener.redirect_uri();
    assert_eq!(uri, format!("http://{}/callback", listener.local_addr()));
    assert!(uri.starts_with("http://127.0.0.1:"));
    let waiting = tokio::spawn(listener.receive(RedirectMode::Query));

    let browser = browser();
    // Other paths are answered 404 and ignored.
    let favicon = browser
        .call(
            http::Request::get(uri.replace("/callback", "/favicon.ico"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(favicon.status(), 404);
    let page = browser
        .call(
            http::Request::get(format!("{uri}?code=abc&state=xyz"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(String::from_utf8_lossy(page.body()).contains("close this window"));
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        "/callback?code=abc&state=xyz"
    );
}

#[tokio::test]
async fn the_implicit_token_comes_back_from_the_fragment_page() {
    let listener = LoopbackRedirectListener::bind("/auth").await.unwrap();
    let uri = listener.redirect_uri();
    let waiting = tokio::spawn(listener.receive(RedirectMode::Fragment));
    let browser = browser();

    // The browser drops the fragment; the listener answers with a page that posts it back.
    let page = browser
        .call(http::Request::get(&uri).body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = String::from_utf8(page.body().clone()).unwrap();
    assert!(html.contains("location.hash"), "{html}");
    assert!(html.contains("/auth/__fragment"), "{html}");

    // What the page's script does.
    let posted = browser
        .call(
            http::Request::post(format!("{uri}/__fragment"))
                .body(b"access_token=tok&token_type=Bearer&state=s1&expires_in=3599".to_vec())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        "/auth#access_token=tok&token_type=Bearer&state=s1&expires_in=3599"
    );
}

#[tokio::test]
async fn an_error_in_the_query_ends_an_implicit_login_too() {
    let listener = LoopbackRedirectListener::bind("/auth").await.unwrap();
    let uri = listener.redirect_uri();
    let waiting = tokio::spawn(listener.receive(RedirectMode::Fragment));
    browser()
        .call(
            http::Request::get(format!("{uri}?error=access_denied&state=s1"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        "/auth?error=access_denied&state=s1"
    );
}

#[tokio::test]
async fn bad_paths_are_refused() {
    for path in ["callback", "/cb?x=1", "/cb#f"] {
        assert!(
            LoopbackRedirectListener::bind(path).await.is_err(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn requests_without_an_answer_do_not_end_the_wait() {
    let listener = LoopbackRedirectListener::bind("/callback").await.unwrap();
    let uri = listener.redirect_uri();
    let waiting = tokio::spawn(listener.receive(RedirectMode::Query));
    let browser = browser();
    let head = browser
        .call(http::Request::head(&uri).body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(head.status(), 405);
    let bare = browser
        .call(http::Request::get(&uri).body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(bare.status(), 400);
    assert!(
        !waiting.is_finished(),
        "a request without an answer ended the wait"
    );
    browser
        .call(
            http::Request::get(format!("{uri}?code=c&state=s"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), "/callback?code=c&state=s");
}

#[tokio::test]
async fn an_answer_that_cannot_be_read_ends_the_wait_with_an_error() {
    // A query over the bound.
    let listener = LoopbackRedirectListener::bind("/callback").await.unwrap();
    let uri = listener.redirect_uri();
    let waiting = tokio::spawn(listener.receive(RedirectMode::Query));
    let long = format!("{uri}?code={}", "c".repeat(17 * 1024));
    let page = browser()
        .call(http::Request::get(long).body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 414);
    let error = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the wait ended")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        error.kind(),
        adu_transport::TransportErrorKind::InvalidRequest
    );
    assert!(error.to_string().contains("16 KiB"), "{error}");

    // A fragment that is not UTF-8.
    let listener = LoopbackRedirectListener::bind("/auth").await.unwrap();
    let uri = listener.redirect_uri();
    let waiting = tokio::spawn(listener.receive(RedirectMode::Fragment));
    let page = browser()
        .call(
            http::Request::post(format!("{uri}/__fragment"))
                .body(vec![0xff, 0xfe])
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let error = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the wait ended")
        .unwrap()
        .unwrap_err();
    assert!(error.to_string().contains("not UTF-8"), "{error}");
}
