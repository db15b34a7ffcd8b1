//! The console over plain HTTP, without a browser: sessions and their cookie, CSRF and origin
//! checks, the security headers, development mode's role picker, and a token mode that takes
//! no development cookie.

use std::collections::HashMap;

use aspflow::store::EventStore;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{e2e::TestServer, util::TestStore};

/// A response: status, headers (lower-case names; repeated ones joined by "\n"), body.
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// One HTTP/1.1 request on its own connection.
pub async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    if method == "POST" {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut map: HashMap<String, String> = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let e = map.entry(k.trim().to_lowercase()).or_default();
            if !e.is_empty() {
                e.push('\n');
            }
            e.push_str(v.trim());
        }
    }
    // Chunked bodies: good enough to search in (the chunk sizes stay in the text).
    Reply {
        status,
        headers: map,
        body: rest.to_owned(),
    }
}

/// The session cookie a sign-in set.
fn session_cookie(r: &Reply) -> String {
    r.header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

fn csrf_of(body: &str) -> String {
    body.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned()
}

crate::util::on_both_backends!(
    sessions_csrf_and_headers_in_development_mode,
    token_mode_takes_no_development_cookie
);

async fn sessions_csrf_and_headers_in_development_mode(s: TestStore) {
    let server = TestServer::start_with(s.store.clone(), s.clock.clone(), None).await;
    let home = call(&server, "GET", "/", &[], "").await;
    assert_eq!((home.status, home.header("location")), (303, "/cases"));
    let page = call(&server, "GET", "/cases", &[], "").await;
    assert_eq!(page.status, 303);
    assert!(page.header("location").starts_with("/sign-in?next=/cases"));
    let picker = call(&server, "GET", "/sign-in", &[], "").await;
    assert!(picker.body.contains("Development mode"), "{}", picker.body);

    // The picker refuses a name with spaces or quotes, and signs in a valid one.
    let bad = call(
        &server,
        "POST",
        "/sign-in",
        &[],
        "role=secretariat&subject=a+b%22",
    )
    .await;
    assert_eq!(bad.status, 401);
    let ok = call(
        &server,
        "POST",
        "/sign-in",
        &[],
        "role=secretariat&subject=sec-1&next=/cases",
    )
    .await;
    assert_eq!((ok.status, ok.header("location")), (303, "/cases"));
    let set = ok.header("set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "no TLS, no Secure flag: {set}");
    // Only paths of this server as the place to go back to.
    let away = call(
        &server,
        "POST",
        "/sign-in",
        &[],
        "role=bureau&subject=b&next=//evil.example",
    )
    .await;
    assert_eq!(away.header("location"), "/cases");

    let cookie = session_cookie(&ok);
    let list = call(&server, "GET", "/cases", &[("Cookie", &cookie)], "").await;
    assert_eq!(list.status, 200);
    let csp = list.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(list.header("x-content-type-options"), "nosniff");
    assert_eq!(list.header("cache-control"), "no-store");
    assert!(list.body.contains("sec-1"));

    // CSRF: a form without the session's token, or from another origin, changes nothing.
    let form = call(
        &server,
        "GET",
        "/cases/new/formal",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    let csrf = csrf_of(&form.body);
    let body = "request_id=r1&act.occurred_at=2017-12-12T12%3A00";
    let no_token = call(
        &server,
        "POST",
        "/cases/new/formal",
        &[("Cookie", &cookie)],
        body,
    )
    .await;
    assert_eq!(no_token.status, 403);
    let with_token = format!("_csrf={csrf}&{body}");
    let other_site = call(
        &server,
        "POST",
        "/cases/new/formal",
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
        &with_token,
    )
    .await;
    assert_eq!(other_site.status, 403);
    // With the token, the services check the form: here, the facts are missing.
    let checked = call(
        &server,
        "POST",
        "/cases/new/formal",
        &[("Cookie", &cookie)],
        &with_token,
    )
    .await;
    assert_eq!(checked.status, 422);
    assert!(checked.body.contains("facts"), "{}", checked.body);
    let listed = server.engine.store().head_position().await.unwrap();
    assert_eq!(listed, 0, "nothing was written");

    // Unknown pages and commands.
    let missing = call(&server, "GET", "/nowhere", &[("Cookie", &cookie)], "").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("<main"));
    let static_js = call(&server, "GET", "/static/console.js", &[], "").await;
    assert_eq!(static_js.status, 200);
    assert!(
        static_js
            .header("content-type")
            .starts_with("text/javascript")
    );
    server.stop().await;
}

async fn token_mode_takes_no_development_cookie(s: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"a-console-test-secret-of-32-bytes-or-more").unwrap();
    let verifier = aspflow::api::token::Verifier::load(
        &aspflow::api::token::KeySource::Hs256SecretFile(secret),
        None,
        None,
    )
    .unwrap();
    let options = aspflow::api::ServeOptions {
        scheduler_tick: None,
        verifier: Some(std::sync::Arc::new(verifier)),
        ..aspflow::api::ServeOptions::default()
    };
    let server = TestServer::start_opts(s.store.clone(), s.clock.clone(), options).await;
    let forged = call(
        &server,
        "GET",
        "/cases",
        &[("Cookie", "aspflow_session=d.bureau.-.mallory")],
        "",
    )
    .await;
    assert_eq!(forged.status, 303);
    assert!(forged.header("location").contains("expired=1"));
    let picker = call(&server, "GET", "/sign-in", &[], "").await;
    assert!(!picker.body.contains("Development mode"));
    assert!(picker.body.contains("f-token"));
    let refused = call(&server, "POST", "/sign-in", &[], "token=not.a.token").await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("The token was refused"));
    assert!(refused.header("set-cookie").is_empty());
    server.stop().await;
}
