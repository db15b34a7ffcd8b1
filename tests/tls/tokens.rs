//! Bearer tokens as people and tools use them: `aspflow token keygen` and `mint`, a real
//! `aspflow serve` that checks them (HS256 secret, Ed25519 public key), and `aspflow case
//! --token` (also over TLS with a client certificate, and `aspflow audit checkpoint`).

use std::path::Path;

use aspflow::{
    api::token::{self, Claims, MintKey},
    clock::{Clock, SystemClock},
};

use super::{Ca, ServerProcess, aspflow, file, stderr, stdout};

/// A formal case's opening request (Malawi, 2011), written to `dir`; returns `@FILE`.
fn malawi(dir: &Path) -> String {
    let path = file(
        dir,
        "malawi.json",
        r#"{"act": {"occurred_at": "2011-12-13T10:00:00Z"},
            "facts": {"requested_state": {"iso_code": "MW", "name": "Malawi", "status": "state_party", "region": "african"},
                      "person_sought": {"name": "Omar Hassan Ahmad Al Bashir", "case_number": "ICC-02/05-01/09"},
                      "situation": {"name": "Darfur, Sudan", "trigger_mechanism": "unsc_referral"},
                      "request": {"kind": "arrest_and_surrender", "transmitted_on": "2009-03-06", "outstanding": true}},
            "referral": {"legal_basis": "art_87_7", "chamber": "Pre-Trial Chamber I", "decision_symbol": "ICC-02/05-01/09-139",
                         "decision_date": "2011-12-12", "transmitted_on": "2011-12-13", "targets": ["asp", "unsc"]}}"#,
    );
    format!("@{path}")
}

/// `aspflow case --server URL ARGS...`
fn case(url: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["case", "--server", url];
    all.extend_from_slice(args);
    aspflow(&all)
}

/// `aspflow token mint ARGS...`, the token printed.
fn mint_cli(args: &[&str]) -> String {
    let mut all = vec!["token", "mint"];
    all.extend_from_slice(args);
    let out = aspflow(&all);
    assert!(out.status.success(), "{out:?}");
    let token = stdout(&out).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    token
}

/// An HS256 token for `sub` acting as `role`, expiring `expires_in` seconds from now
/// (negative: already expired), minted with the library.
fn hs256(secret_file: &str, sub: &str, role: &str, expires_in: i64) -> String {
    let secret = token::read_secret(Path::new(secret_file)).unwrap();
    let now = SystemClock.now().timestamp();
    let claims = Claims {
        sub: sub.into(),
        name: None,
        role: Some(role.into()),
        roles: Vec::new(),
        exp: u64::try_from(now + expires_in).unwrap(),
        nbf: None,
        iat: Some(u64::try_from(now).unwrap()),
        iss: None,
        aud: None,
    };
    token::mint(&MintKey::Hs256(secret), None, &claims).unwrap()
}

#[track_caller]
fn refused(out: &std::process::Output, code: &str, why: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stderr(out);
    assert!(text.contains(code) && text.contains(why), "{text}");
}

#[test]
fn hs256_tokens_from_aspflow_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = d.join("hs256.secret");
    let secret_s = secret.to_str().unwrap();
    let out = aspflow(&["token", "keygen", "--hs256", secret_s]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap().trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&secret).unwrap();
    let out = aspflow(&["token", "keygen", "--hs256", secret_s]);
    refused(&out, "exists already", "not overwritten");
    assert_eq!(std::fs::read(&secret).unwrap(), before);

    let server = ServerProcess::start(
        d,
        &[
            "--listen",
            "127.0.0.1:0",
            "--auth-hs256-secret-file",
            secret_s,
        ],
    );
    let url = format!("http://{}", server.addr);

    let liaison = mint_cli(&[
        "--key",
        secret_s,
        "--sub",
        "alice@icc-cpi.int",
        "--name",
        "Alice",
        "--role",
        "court_liaison",
        "--ttl",
        "30m",
    ]);
    let out = case(&url, &["open-formal", &malawi(d), "--token", &liaison]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("NC-2011-0001"), "{out:?}");
    // The token's subject is the actor; --subject cannot change that.
    let out = case(
        &url,
        &[
            "history",
            "NC-2011-0001",
            "--token",
            &liaison,
            "--subject",
            "mallory",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("alice@icc-cpi.int (court_liaison)"),
        "{}",
        stdout(&out)
    );

    // No token, an expired one, one signed with another secret: UNAUTHENTICATED, explained.
    refused(&case(&url, &["list"]), "Unauthenticated", "no bearer token");
    refused(
        &case(&url, &["list", "--as", "court_liaison"]),
        "Unauthenticated",
        "no bearer token",
    );
    let expired = hs256(secret_s, "alice@icc-cpi.int", "court_liaison", -3600);
    refused(
        &case(&url, &["list", "--token", &expired]),
        "Unauthenticated",
        "ExpiredSignature",
    );
    let other_secret = file(d, "other.secret", &"x".repeat(64));
    let forged = hs256(&other_secret, "alice@icc-cpi.int", "court_liaison", 600);
    refused(
        &case(&url, &["list", "--token", &forged]),
        "Unauthenticated",
        "InvalidSignature",
    );

    // A token with two roles: the caller picks one with --as, among those only.
    let both = mint_cli(&[
        "--key",
        secret_s,
        "--sub",
        "bob",
        "--role",
        "bureau",
        "--role",
        "president",
    ]);
    refused(
        &case(&url, &["list", "--token", &both]),
        "Unauthenticated",
        "several roles",
    );
    assert!(
        case(&url, &["list", "--token", &both, "--as", "bureau"])
            .status
            .success()
    );
    refused(
        &case(&url, &["list", "--token", &both, "--as", "secretariat"]),
        "PermissionDenied",
        "does not grant the role secretariat",
    );

    // ASPFLOW_TOKEN and --token @FILE.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aspflow"))
        .args(["case", "--server", &url, "list"])
        .env("ASPFLOW_TOKEN", &liaison)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token_file = file(d, "token", &format!("{liaison}\n"));
    assert!(
        case(&url, &["list", "--token", &format!("@{token_file}")])
            .status
            .success()
    );

    // Minting refuses what would give a useless token.
    let out = aspflow(&[
        "token", "mint", "--key", secret_s, "--sub", "x", "--role", "admin",
    ]);
    refused(&out, "unknown role", "admin");
    let out = aspflow(&[
        "token", "mint", "--key", secret_s, "--sub", "x", "--role", "bureau", "--ttl", "8",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("no unit"), "{}", stderr(&out));
    let help = stdout(&aspflow(&["token", "mint", "--help"]));
    assert!(help.contains("carries no region"), "{help}");
    assert!(!help.contains("--region"), "{help}");

    assert!(server.stop().is_some_and(|s| s.success()));
}

#[test]
fn eddsa_tokens_checked_with_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let private = file(d, "ed25519.pem", &pair.serialize_pem());
    let public = file(d, "ed25519.pub.pem", &pair.public_key_pem());
    let server = ServerProcess::start(
        d,
        &[
            "--listen",
            "127.0.0.1:0",
            "--auth-public-key",
            &public,
            "--auth-issuer",
            "https://id.asp.example",
        ],
    );
    let url = format!("http://{}", server.addr);
    let mint = |extra: &[&str]| {
        let mut args = vec![
            "--alg",
            "eddsa",
            "--key",
            &private,
            "--sub",
            "carol",
            "--role",
            "court_liaison",
        ];
        args.extend_from_slice(extra);
        mint_cli(&args)
    };
    let good = mint(&["--issuer", "https://id.asp.example"]);
    // --kid names the key in the header (for a server with a JWKS document).
    let named = mint(&["--kid", "asp-2026"]);
    let header = jsonwebtoken::decode_header(&named).unwrap();
    assert_eq!(header.kid.as_deref(), Some("asp-2026"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let out = case(&url, &["open-formal", &malawi(d), "--token", &good]);
    assert!(out.status.success(), "{out:?}");
    let wrong_issuer = mint(&["--issuer", "https://elsewhere.example"]);
    refused(
        &case(&url, &["list", "--token", &wrong_issuer]),
        "Unauthenticated",
        "InvalidIssuer",
    );
    // The public key cannot sign; an HS256 default with a PEM key is pointed to --alg eddsa.
    let out = aspflow(&[
        "token", "mint", "--alg", "eddsa", "--key", &public, "--sub", "x", "--role", "bureau",
    ]);
    refused(&out, "holds a public key", "private key");
    let out = aspflow(&[
        "token", "mint", "--key", &private, "--sub", "x", "--role", "bureau",
    ]);
    refused(&out, "PEM key", "--alg eddsa");
    assert!(server.stop().is_some_and(|s| s.success()));
}

/// The whole set-up of docs/operations.md: TLS with client certificates and tokens, driven by
/// `aspflow case` and `aspflow audit checkpoint` with --ca-cert, --client-cert/--client-key
/// and --token.
#[test]
fn cli_over_mutual_tls_with_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = Ca::new("aspflow server CA");
    let client_ca = Ca::new("aspflow client CA");
    let leaf = server_ca.server();
    let cert = file(d, "server.pem", &leaf.cert);
    let key = file(d, "server.key", &leaf.key);
    let ca = file(d, "ca.pem", &server_ca.pem());
    let clients = file(d, "clients-ca.pem", &client_ca.pem());
    let alice = client_ca.client("alice");
    let alice_cert = file(d, "alice.pem", &alice.cert);
    let alice_key = file(d, "alice.key", &alice.key);
    let secret = file(d, "hs256.secret", &"s".repeat(48));
    let server = ServerProcess::start(
        d,
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &clients,
            "--auth-hs256-secret-file",
            &secret,
        ],
    );
    assert!(server.log().contains("mutual TLS"), "{}", server.log());
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let https = format!("https://127.0.0.1:{port}");
    let liaison = hs256(&secret, "alice", "court_liaison", 600);
    let tls = [
        "--ca-cert",
        ca.as_str(),
        "--client-cert",
        alice_cert.as_str(),
        "--client-key",
        alice_key.as_str(),
    ];
    fn with<'a>(tls: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = tls.to_vec();
        args.extend_from_slice(extra);
        args
    }

    let out = case(
        &https,
        &with(&tls, &["open-formal", &malawi(d), "--token", &liaison]),
    );
    assert!(out.status.success(), "{out:?}");
    let out = case(&https, &with(&tls, &["list", "--token", &liaison]));
    assert!(stdout(&out).contains("NC-2011-0001"), "{out:?}");

    // Without a client certificate, without the CA, or in plaintext: no way in.
    let out = case(&https, &["list", "--ca-cert", &ca, "--token", &liaison]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = case(&https, &["list", "--token", &liaison]);
    refused(&out, "is https://", "--ca-cert");
    let out = case(
        &format!("http://127.0.0.1:{port}"),
        &["list", "--token", &liaison],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = case(
        &format!("http://127.0.0.1:{port}"),
        &with(&tls, &["list", "--token", &liaison]),
    );
    refused(&out, "need an https:// server address", "plaintext");

    // The auditor's checkpoint goes through the same connection code.
    let auditor = hs256(&secret, "audit-office", "auditor", 600);
    let cp = d.join("cp.json");
    let mut args = vec!["audit", "checkpoint", "--server", &https];
    args.extend_from_slice(&tls);
    args.extend_from_slice(&["--token", &auditor, "-o", cp.to_str().unwrap()]);
    let out = aspflow(&args);
    assert!(out.status.success(), "{out:?}");
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    assert_eq!(checkpoint["head_position"], 1, "{checkpoint}");
    // The court liaison may not take one.
    let mut args = vec!["audit", "checkpoint", "--server", &https];
    args.extend_from_slice(&tls);
    args.extend_from_slice(&["--token", &liaison]);
    refused(&aspflow(&args), "PermissionDenied", "court_liaison");

    assert!(server.stop().is_some_and(|s| s.success()));
}
