//! gRPC-Web without a proxy: a plain HTTP/1.1 client on a real socket (what `curl` or a
//! browser's `fetch` sends) calls the same services, with the same rules, and a browser page
//! of an allowed origin passes the CORS preflight.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
};

use aspflow::{api::ServeOptions, pb};
use base64::Engine as _;
use prost::Message;

use crate::{
    e2e::{TestServer, open_jordan},
    util::TestStore,
};

const ORIGIN: &str = "https://console.asp.example.org";

/// An HTTP/1.1 response: status, headers (lower-case names), body (de-chunked).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        let mut body = Vec::new();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest.drain(..eol + 2 + size + 2);
        }
        rest = body;
    }
    Reply {
        status,
        headers,
        body: rest,
    }
}

/// One gRPC-Web message frame: flag 0, length, bytes.
fn frame(msg: &impl Message) -> Vec<u8> {
    let bytes = msg.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// The data frames and the trailers (from the trailer frame, or from the headers when the
/// answer is trailers-only) of a gRPC-Web response body.
fn frames(reply: &Reply) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
    let mut data = Vec::new();
    let mut trailers = Vec::new();
    let mut b = reply.body.as_slice();
    while b.len() >= 5 {
        let flag = b[0];
        let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
        let payload = &b[5..5 + len];
        if flag & 0x80 == 0 {
            data.push(payload.to_vec());
        } else {
            for line in String::from_utf8_lossy(payload).split("\r\n") {
                if let Some((n, v)) = line.split_once(':') {
                    trailers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
        }
        b = &b[5 + len..];
    }
    for name in ["grpc-status", "grpc-message"] {
        if let Some(v) = reply.header(name) {
            trailers.push((name.to_owned(), v.to_owned()));
        }
    }
    (data, trailers)
}

fn trailer<'a>(trailers: &'a [(String, String)], name: &str) -> &'a str {
    trailers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {trailers:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_clients_and_browsers_call_the_api_with_grpc_web() {
    let s = TestStore::sqlite().await;
    let options = ServeOptions {
        scheduler_tick: None,
        cors_origins: vec![ORIGIN.parse().unwrap()],
        ..ServeOptions::default()
    };
    let server = TestServer::start_opts(s.store.clone(), s.clock.clone(), options).await;
    let addr = server.addr;
    let web = |path: &'static str, role: Option<&'static str>, body: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            let mut headers = vec![
                ("content-type", "application/grpc-web+proto"),
                ("x-grpc-web", "1"),
            ];
            if let Some(r) = role {
                headers.push(("x-aspflow-role", r));
            }
            http(addr, "POST", path, &headers, &body)
        })
    };

    // A write: opening a case, over HTTP/1.1, binary gRPC-Web.
    let reply = web(
        "/aspflow.v1.Cases/OpenFormalCase",
        Some("court_liaison"),
        frame(&open_jordan("web-open-1")),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/grpc-web+proto")
    );
    let (data, trailers) = frames(&reply);
    assert_eq!(trailer(&trailers, "grpc-status"), "0", "{trailers:?}");
    let opened = pb::ExecuteResponse::decode(data[0].as_slice()).unwrap();
    let case = opened.case.unwrap();
    assert!(case.reference.starts_with("NC-2017-"), "{}", case.reference);
    // It is in the log, as if it had come over gRPC.
    let view = server
        .cases()
        .await
        .get_case(crate::e2e::as_role(
            pb::GetCaseRequest {
                case_id: case.case_id.clone(),
                ..Default::default()
            },
            "observer",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.version, 1);

    // The same rules: a write without a role is refused, and nothing is written.
    let head = aspflow::store::EventStore::head_position(server.engine.store())
        .await
        .unwrap();
    let reply = web(
        "/aspflow.v1.Cases/OpenFormalCase",
        None,
        frame(&open_jordan("web-open-2")),
    )
    .await
    .unwrap();
    let (_, trailers) = frames(&reply);
    assert_ne!(trailer(&trailers, "grpc-status"), "0");
    assert_eq!(
        aspflow::store::EventStore::head_position(server.engine.store())
            .await
            .unwrap(),
        head
    );

    // A bad request: the status and the message that names the field.
    let reply = web(
        "/aspflow.v1.Cases/GetCase",
        Some("observer"),
        frame(&pb::GetCaseRequest::default()),
    )
    .await
    .unwrap();
    let (_, trailers) = frames(&reply);
    assert_eq!(trailer(&trailers, "grpc-status"), "3"); // INVALID_ARGUMENT
    assert!(
        trailer(&trailers, "grpc-message").contains("case_id"),
        "{trailers:?}"
    );

    // The text variant (base64), as some browser libraries send it.
    let body =
        base64::engine::general_purpose::STANDARD.encode(frame(&pb::GetServerInfoRequest {}));
    let reply = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/aspflow.v1.Server/GetServerInfo",
            &[
                ("content-type", "application/grpc-web-text"),
                ("accept", "application/grpc-web-text"),
            ],
            body.as_bytes(),
        )
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    // The body is base64 message by message (padding may come mid-body); every 4 characters
    // decode on their own.
    let text = String::from_utf8(reply.body.clone()).unwrap();
    let decoded = Reply {
        body: text
            .as_bytes()
            .chunks(4)
            .flat_map(|q| base64::engine::general_purpose::STANDARD.decode(q).unwrap())
            .collect(),
        ..reply
    };
    let (data, trailers) = frames(&decoded);
    assert_eq!(trailer(&trailers, "grpc-status"), "0");
    let info = pb::GetServerInfoResponse::decode(data[0].as_slice()).unwrap();
    assert_eq!(info.backend, "sqlite");
    assert_eq!(info.head_position, 1);

    // CORS: a page of the allowed origin may call; another origin gets no grant.
    let preflight = |origin: &'static str| {
        tokio::task::spawn_blocking(move || {
            http(
                addr,
                "OPTIONS",
                "/aspflow.v1.Cases/GetCase",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type,x-grpc-web,authorization",
                    ),
                ],
                b"",
            )
        })
    };
    let ok = preflight(ORIGIN).await.unwrap();
    assert_eq!(ok.header("access-control-allow-origin"), Some(ORIGIN));
    let allowed = ok
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-grpc-web"),
        "{allowed}"
    );
    let other = preflight("https://elsewhere.example.com").await.unwrap();
    assert_eq!(other.header("access-control-allow-origin"), None);

    server.stop().await;
}
