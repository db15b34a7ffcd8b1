//! Confidentiality and identity at the edge (issue 9, items 5 and 6).
//!
//! Here: TLS and mutual TLS on the real server started in-process on 127.0.0.1:0 with
//! certificates made in the test (rcgen), and the rule that `aspflow serve` listens off
//! loopback only with TLS and authentication. `tokens`: bearer tokens minted by `aspflow token`
//! (HS256 and EdDSA) against real server processes, driven by `aspflow case`, also over TLS.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use aspflow::{
    api::{self, ServeOptions},
    pb::{self, server_client::ServerClient},
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{ClientTlsConfig, Endpoint};

use crate::{e2e::TestServer, util::TestStore};

mod tokens;

/// A certificate authority made for one test.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "aspflow test");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        self.leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The error and every cause below it, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Connects to `url` (with `tls`, if any) and asks for the server's info: the backend name,
/// or why the connection or the call failed.
async fn server_info(url: &str, tls: Option<ClientTlsConfig>) -> Result<String, String> {
    let attempt = async {
        let mut endpoint = Endpoint::from_shared(url.to_owned()).unwrap();
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).map_err(|e| chain(&e))?;
        }
        let channel = endpoint.connect().await.map_err(|e| chain(&e))?;
        let info = ServerClient::new(channel)
            .get_server_info(pb::GetServerInfoRequest {})
            .await
            .map_err(|s| format!("{:?}: {}: {}", s.code(), s.message(), chain(&s)))?;
        Ok(info.into_inner().backend)
    };
    tokio::time::timeout(Duration::from_secs(15), attempt)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

fn trusting(ca: &Ca) -> ClientTlsConfig {
    api::tls::client_config(ca.pem().as_bytes(), None).unwrap()
}

async fn tls_server(store: &TestStore, server: &Leaf, client_ca: Option<&Ca>) -> TestServer {
    let client_ca = client_ca.map(Ca::pem);
    let tls = api::tls::server_config(
        server.cert.as_bytes(),
        server.key.as_bytes(),
        client_ca.as_deref().map(str::as_bytes),
    )
    .unwrap();
    let options = ServeOptions {
        scheduler_tick: None,
        tls: Some(tls),
        ..ServeOptions::default()
    };
    TestServer::start_opts(store.store.clone(), store.clock.clone(), options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_admits_only_clients_that_trust_its_ca() {
    let store = TestStore::sqlite().await;
    let ca = Ca::new("aspflow test CA");
    let server = tls_server(&store, &ca.server(), None).await;
    let port = server.addr.port();
    let https = format!("https://127.0.0.1:{port}");

    assert_eq!(
        server_info(&https, Some(trusting(&ca))).await,
        Ok("sqlite".to_owned())
    );
    // The name in the URL is checked against the certificate: localhost is in it too.
    assert_eq!(
        server_info(&format!("https://localhost:{port}"), Some(trusting(&ca))).await,
        Ok("sqlite".to_owned())
    );

    let plaintext = server_info(&format!("http://127.0.0.1:{port}"), None).await;
    assert!(
        plaintext.is_err(),
        "a plaintext client got in: {plaintext:?}"
    );

    let other = Ca::new("someone else's CA");
    let refused = server_info(&https, Some(trusting(&other))).await;
    let why = refused.expect_err("a client trusting another CA got in");
    assert!(why.contains("UnknownIssuer"), "{why}");

    // A certificate that names another host is refused even from the right CA.
    let store2 = TestStore::sqlite().await;
    let elsewhere = ca.leaf(
        &["aspflow.example.org"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let misnamed = tls_server(&store2, &elsewhere, None).await;
    let why = server_info(
        &format!("https://127.0.0.1:{}", misnamed.addr.port()),
        Some(trusting(&ca)),
    )
    .await
    .expect_err("a certificate for another name was accepted");
    assert!(why.contains("certificate not valid for name"), "{why}");

    // Refused handshakes do not disturb the server.
    assert_eq!(
        server_info(&https, Some(trusting(&ca))).await,
        Ok("sqlite".to_owned())
    );
    misnamed.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_its_client_ca() {
    let store = TestStore::sqlite().await;
    let server_ca = Ca::new("aspflow server CA");
    let client_ca = Ca::new("aspflow client CA");
    let server = tls_server(&store, &server_ca.server(), Some(&client_ca)).await;
    let https = format!("https://127.0.0.1:{}", server.addr.port());

    let anonymous = server_info(&https, Some(trusting(&server_ca))).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate got in: {anonymous:?}"
    );

    let with_cert = |leaf: &Leaf| {
        api::tls::client_config(
            server_ca.pem().as_bytes(),
            Some((leaf.cert.as_bytes(), leaf.key.as_bytes())),
        )
        .unwrap()
    };
    let stranger = Ca::new("unknown client CA").client("mallory");
    let foreign = server_info(&https, Some(with_cert(&stranger))).await;
    assert!(
        foreign.is_err(),
        "a client certificate from another CA got in: {foreign:?}"
    );

    let alice = client_ca.client("alice");
    assert_eq!(
        server_info(&https, Some(with_cert(&alice))).await,
        Ok("sqlite".to_owned())
    );
    server.stop().await;
}

#[test]
fn server_config_names_the_wrong_input() {
    let ca = Ca::new("aspflow test CA");
    let leaf = ca.server();
    let other = ca.server();
    let err = api::tls::server_config(leaf.cert.as_bytes(), leaf.key.as_bytes(), Some(b"junk"))
        .unwrap_err();
    assert!(err.to_string().starts_with("the client CA"), "{err}");
    let err = api::tls::server_config(leaf.key.as_bytes(), leaf.key.as_bytes(), None).unwrap_err();
    assert!(
        err.to_string().starts_with("the certificate chain"),
        "{err}"
    );
    let err = api::tls::server_config(leaf.cert.as_bytes(), other.key.as_bytes(), None)
        .expect_err("the key of another certificate");
    assert!(err.to_string().contains("refused"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Real processes.

pub fn aspflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(args)
        .env_remove("ASPFLOW_DB")
        .env_remove("ASPFLOW_TOKEN")
        .env_remove("ASPFLOW_CA_CERT")
        .env_remove("ASPFLOW_ROLE")
        .output()
        .expect("run aspflow")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `text` to `dir/name`; returns the path as a string.
pub fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Removes ANSI colour sequences (in case the log is coloured despite NO_COLOR).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `aspflow serve ARGS` in `dir` (embedded SQLite there), its log in `dir/server.log`. Stopped
/// (SIGINT, then killed) on drop.
pub struct ServerProcess {
    child: Child,
    log: std::path::PathBuf,
    /// The address it listens on, from its "aspflow serving gRPC" log line.
    pub addr: String,
}

impl ServerProcess {
    /// Starts the server and waits for its "serving" line; panics with its log if it exits.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let log = dir.join("server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_aspflow"))
            .arg("serve")
            .args(["--scheduler-tick-ms", "0"])
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("ASPFLOW_LOG", "info")
            .env_remove("ASPFLOW_DB")
            .env_remove("ASPFLOW_SIGNING_KEY")
            .env_remove("ASPFLOW_LISTEN")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = ServerProcess {
            child,
            log,
            addr: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start ({status}): {}", server.log());
            }
            let log = server.log();
            if let Some(line) = log.lines().find(|l| l.contains("aspflow serving gRPC")) {
                server.addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("listen="))
                    .unwrap_or_else(|| panic!("no listen= in {line:?}"))
                    .to_owned();
                return server;
            }
            assert!(Instant::now() < deadline, "the server did not start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        plain(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// SIGINT, and the exit status within 10 s.
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Off loopback, `aspflow serve` needs TLS and authentication, and says which is missing;
/// with both it serves; `--insecure` overrides, with a warning.
#[test]
fn serve_off_loopback_needs_tls_and_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new("aspflow test CA");
    let leaf = ca.server();
    let cert = file(d, "server.pem", &leaf.cert);
    let key = file(d, "server.key", &leaf.key);
    let secret = file(d, "hs256.secret", &"k".repeat(40));
    let db = format!("sqlite://{}", d.join("aspflow.db").display());
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "0.0.0.0:0", "--db", &db];
        args.extend_from_slice(extra);
        aspflow(&args)
    };

    let out = serve(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.contains("refusing to listen on 0.0.0.0:0 without TLS (--tls-cert and --tls-key) and authentication")
            && text.contains("--insecure overrides"),
        "{text}"
    );
    let out = serve(&["--auth-hs256-secret-file", &secret]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.contains("without TLS (--tls-cert and --tls-key):"),
        "{text}"
    );
    let out = serve(&["--tls-cert", &cert, "--tls-key", &key]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(&out);
    assert!(
        text.contains("without authentication (--auth-hs256-secret-file"),
        "{text}"
    );
    // A key that is not the certificate's is reported at start, naming the files.
    let other = file(d, "other.key", &ca.server().key);
    let out = serve(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &other,
        "--auth-hs256-secret-file",
        &secret,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("other.key"), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));

    let both = ServerProcess::start(
        d,
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--auth-hs256-secret-file",
            &secret,
        ],
    );
    assert!(both.addr.starts_with("0.0.0.0:"), "{}", both.addr);
    assert!(both.log().contains("TLS"), "{}", both.log());
    assert!(both.stop().is_some_and(|s| s.success()));

    let insecure = ServerProcess::start(d, &["--listen", "0.0.0.0:0", "--insecure"]);
    let log = insecure.log();
    assert!(
        log.contains("--insecure: listening off loopback without TLS or without authentication")
            && log.contains("WARN"),
        "{log}"
    );
    assert!(insecure.stop().is_some_and(|s| s.success()));
}
