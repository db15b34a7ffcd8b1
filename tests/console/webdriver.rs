//! A minimal W3C WebDriver client for the console's browser tests: it starts chromedriver,
//! opens headless Chromium sessions and drives them (navigate, find, click, type, run scripts,
//! take screenshots).
//!
//! Hand-written on purpose, to keep the dependency tree lean: the WebDriver protocol is plain
//! JSON over HTTP/1.1, so std, tokio (`net` only) and serde_json suffice. One connection per
//! request (`Connection: close`); the response ends where its `Content-Length` or chunked
//! framing says (EOF only without either), since chromedriver keeps the connection open.

#![allow(dead_code)] // a toolkit: not every test uses every command

use std::{
    io::ErrorKind,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The key of a web element reference (the W3C "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Longest wait for one HTTP exchange (page loads and scripts time out after 30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Numbers the profile directories of this process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Sends `request` on a fresh connection and reads until the response is complete. The
/// framing decides, not EOF: chromedriver leaves the connection open despite `Connection: close`.
async fn exchange(port: u16, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let io = |e: std::io::Error| format!("127.0.0.1:{port}: {e}");
    let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(io)?;
    let mut rest = request;
    while !rest.is_empty() {
        stream.writable().await.map_err(io)?;
        match stream.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(io(e)),
        }
    }
    let (mut raw, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    loop {
        stream.readable().await.map_err(io)?;
        match stream.try_read(&mut buf) {
            Ok(0) => {
                let response = parse_response(&raw, true)?;
                return response.ok_or_else(|| "connection closed mid-response".to_owned());
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(io(e)),
        }
        if let Some(response) = parse_response(&raw, false)? {
            return Ok(response);
        }
    }
}

/// The status code and body of a raw HTTP/1.1 response; `None` while it is incomplete. A
/// body framed by neither `Content-Length` nor chunked encoding ends at EOF (`closed`).
fn parse_response(raw: &[u8], closed: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split(' ').nth(1).unwrap_or_default();
    let status = code.parse();
    let status = status.map_err(|_| format!("bad status line {status_line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>();
            length = Some(n.map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[end + 4..];
    let body = match (chunked, length) {
        (true, _) => dechunk(rest)?,
        (false, Some(n)) => rest.get(..n).map(<[u8]>::to_vec),
        (false, None) => closed.then(|| rest.to_vec()),
    };
    Ok(body.map(|body| (status, body)))
}

/// Decodes a `Transfer-Encoding: chunked` body, `None` while it is incomplete (extensions and
/// trailers are ignored).
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&data[..eol]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16);
        let size = size.map_err(|_| format!("bad chunk size {line:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        let (Some(chunk), Some(next)) = (data.get(..size), data.get(size + 2..)) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        data = next;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One WebDriver command: the `value` of the answer, or the WebDriver error as a message.
async fn command(port: u16, verb: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{verb} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange(port, request.as_bytes())).await;
    let answer = answer.map_err(|_| format!("{verb} {path}: no answer in {REQUEST_TIMEOUT:?}"))?;
    let (status, body) = answer.map_err(|e| format!("{verb} {path}: {e}"))?;
    let mut json: Value = serde_json::from_slice(&body).map_err(|e| {
        let text = String::from_utf8_lossy(&body);
        format!("{verb} {path}: HTTP {status}, not JSON ({e}): {text}")
    })?;
    let value = json.get_mut("value").map(Value::take).unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let field = |key| value.get(key).and_then(Value::as_str);
    let Some(message) = field("message") else {
        return Err(format!("{verb} {path}: HTTP {status}: {value}"));
    };
    // chromedriver's messages start with the error code and end with the browser version.
    let message = message.split("\n  (Session info:").next();
    let message = message.unwrap_or_default();
    match field("error") {
        Some(error) if !message.starts_with(error) => {
            Err(format!("{verb} {path}: {error}: {message}"))
        }
        _ => Err(format!("{verb} {path}: {message}")),
    }
}

fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(format!("expected a string, got {other}")),
    }
}

/// A running chromedriver; dropping it kills it (its browsers, tied to it by the debugging
/// pipe, exit too) and removes the profiles of its sessions.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
    profiles: PathBuf,
}

impl Driver {
    /// Starts `/usr/bin/chromedriver` (or `$CHROMEDRIVER`) on a free loopback port and waits
    /// up to 20 s for it to report itself ready.
    pub async fn start() -> Result<Driver, String> {
        let binary = std::env::var("CHROMEDRIVER");
        let binary = binary.unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let addr = TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr());
        let port = addr
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let name = format!("aspflow-webdriver-{}-{}", std::process::id(), next());
        let profiles = std::env::temp_dir().join(name);
        let mut driver = Driver {
            child,
            port,
            profiles,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let last = match command(port, "GET", "/status", None).await {
                Ok(status) if status.get("ready") == Some(&Value::Bool(true)) => return Ok(driver),
                Ok(status) => format!("not ready: {status}"),
                Err(e) => e,
            };
            if let Ok(Some(exit)) = driver.child.try_wait() {
                return Err(format!("{binary} exited ({exit}) before it was ready"));
            }
            if Instant::now() >= deadline {
                return Err(format!("{binary} not ready after 20 s: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new session of headless Chromium (`/usr/bin/chromium` or `$CHROMIUM`) with a fresh
    /// profile, no implicit wait, and 30 s limits on page loads and scripts.
    pub async fn session(&self) -> Result<Session, String> {
        let binary = std::env::var("CHROMIUM");
        let binary = binary.unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let profile = self.profiles.join(format!("profile-{}", next()));
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            // A pipe rather than a port to chromedriver: the browser then dies with it.
            "--remote-debugging-pipe",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let options = json!({"binary": binary, "args": args});
        // The TLS test's server has a certificate of a CA made for the test.
        let capabilities = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": options
        });
        let body = json!({"capabilities": {"alwaysMatch": capabilities}});
        let value = command(self.port, "POST", "/session", Some(&body)).await?;
        let id = value.get("sessionId").and_then(Value::as_str);
        let id = id.ok_or_else(|| format!("new session: no sessionId in {value}"))?;
        let id = id.to_owned();
        let session = Session {
            port: self.port,
            id,
            profile,
        };
        let timeouts = json!({"implicit": 0, "pageLoad": 30_000, "script": 30_000});
        session.post("/timeouts", &timeouts).await?;
        Ok(session)
    }
}

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The browsers of sessions never quit may write to their profiles while they exit.
        for _ in 0..20 {
            let _ = std::fs::remove_dir_all(&self.profiles);
            std::thread::sleep(Duration::from_millis(50));
            if !self.profiles.exists() {
                break;
            }
        }
    }
}

/// One browser session.
#[derive(Debug)]
pub struct Session {
    port: u16,
    id: String,
    profile: PathBuf,
}

impl Session {
    async fn get(&self, tail: &str) -> Result<Value, String> {
        let path = format!("/session/{}{tail}", self.id);
        command(self.port, "GET", &path, None).await
    }

    async fn post(&self, tail: &str, body: &Value) -> Result<Value, String> {
        let path = format!("/session/{}{tail}", self.id);
        command(self.port, "POST", &path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.post("/url", &json!({"url": url})).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String, String> {
        string(self.get("/url").await?)
    }

    pub async fn title(&self) -> Result<String, String> {
        string(self.get("/title").await?)
    }

    pub async fn source(&self) -> Result<String, String> {
        string(self.get("/source").await?)
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let query = json!({"using": "css selector", "value": css});
        let found = self.post("/element", &query).await;
        let found = found.map_err(|e| format!("find {css:?}: {e}"))?;
        Element::from_json(self.port, &self.id, &found)
    }

    /// Every element matching a CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let query = json!({"using": "css selector", "value": css});
        let found = self.post("/elements", &query).await;
        let found = found.map_err(|e| format!("find all {css:?}: {e}"))?;
        let items = found.as_array();
        let items = items.ok_or_else(|| format!("find all {css:?}: {found}"))?;
        let element = |item| Element::from_json(self.port, &self.id, item);
        items.iter().map(element).collect()
    }

    /// Polls `find` every 100 ms until an element matches or `timeout` has passed.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, String> {
        self.wait(css, None, timeout).await
    }

    /// Polls every 100 ms until an element matches `css` and its text contains `needle`.
    pub async fn wait_for_text(
        &self,
        css: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<Element, String> {
        self.wait(css, Some(needle), timeout).await
    }

    async fn wait(
        &self,
        css: &str,
        text: Option<&str>,
        timeout: Duration,
    ) -> Result<Element, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match (self.find(css).await, text) {
                (Ok(found), None) => return Ok(found),
                (Ok(found), Some(needle)) => match found.text().await {
                    Ok(text) if text.contains(needle) => return Ok(found),
                    Ok(text) => format!("its text is {text:?}"),
                    Err(e) => e,
                },
                (Err(e), _) => e,
            };
            if Instant::now() >= deadline {
                let url = self.current_url().await;
                let url = url.unwrap_or_else(|e| format!("<unknown URL: {e}>"));
                let what = text.map(|n| format!(" with text {n:?}"));
                let what = what.unwrap_or_default();
                let error = format!("no {css:?}{what} after {timeout:?} on {url}: {last}");
                return Err(error);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` as a function body with `arguments` = `args`; its return value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let body = json!({"script": script, "args": args});
        self.post("/execute/sync", &body).await
    }

    /// Runs `script` with a callback as its last argument; the value passed to the callback.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let body = json!({"script": script, "args": args});
        self.post("/execute/async", &body).await
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        let encoded = string(self.get("/screenshot").await?)?;
        let png = base64::engine::general_purpose::STANDARD.decode(encoded);
        png.map_err(|e| format!("screenshot is not base64: {e}"))
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        let rect = json!({"width": width, "height": height});
        self.post("/window/rect", &rect).await.map(drop)
    }

    /// Ends the session (the browser exits) and removes its profile.
    pub async fn quit(self) -> Result<(), String> {
        command(self.port, "DELETE", &format!("/session/{}", self.id), None).await?;
        let _ = std::fs::remove_dir_all(&self.profile);
        Ok(())
    }
}

/// A reference to an element of a session's current page.
#[derive(Debug, Clone)]
pub struct Element {
    port: u16,
    session: String,
    id: String,
}

impl Element {
    fn from_json(port: u16, session: &str, value: &Value) -> Result<Element, String> {
        let id = value.get(ELEMENT_KEY).and_then(Value::as_str);
        let id = id.ok_or_else(|| format!("not an element reference: {value}"))?;
        let (session, id) = (session.to_owned(), id.to_owned());
        Ok(Element { port, session, id })
    }

    async fn get(&self, tail: &str) -> Result<Value, String> {
        let path = format!("/session/{}/element/{}{tail}", self.session, self.id);
        command(self.port, "GET", &path, None).await
    }

    async fn post(&self, tail: &str, body: &Value) -> Result<Value, String> {
        let path = format!("/session/{}/element/{}{tail}", self.session, self.id);
        command(self.port, "POST", &path, Some(body)).await
    }

    pub async fn click(&self) -> Result<(), String> {
        self.post("/click", &json!({})).await.map(drop)
    }

    pub async fn clear(&self) -> Result<(), String> {
        self.post("/clear", &json!({})).await.map(drop)
    }

    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.post("/value", &json!({"text": text})).await.map(drop)
    }

    /// The rendered (visible) text.
    pub async fn text(&self) -> Result<String, String> {
        string(self.get("/text").await?)
    }

    /// An attribute of the element, `None` when it is absent.
    pub async fn attr(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(&format!("/attribute/{name}")).await? {
            Value::Null => Ok(None),
            Value::String(value) => Ok(Some(value)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// A DOM property of the element (`value`, `checked`, ...).
    pub async fn property(&self, name: &str) -> Result<Value, String> {
        self.get(&format!("/property/{name}")).await
    }

    /// The first descendant matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let query = json!({"using": "css selector", "value": css});
        let found = self.post("/element", &query).await;
        let found = found.map_err(|e| format!("find {css:?} within an element: {e}"))?;
        Element::from_json(self.port, &self.session, &found)
    }

    /// The reference as JSON, to pass the element to `execute` as an argument.
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}
