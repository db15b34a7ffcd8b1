//! How the CLI reaches a running server, in one place: [`ServerArgs`] (address, the CA to trust,
//! a client certificate, a bearer token) is shared by `aspflow case` and `aspflow audit
//! checkpoint`, and [`connect`] turns it into a [`Connection`] that sends the token on every
//! call. The benchmarks start their own in-process server and connect to it directly.
//!
//! `http://` is plaintext (development on loopback); `https://` needs `--ca-cert`: there is no
//! built-in list of public CAs, so the trust is always named (for a publicly issued
//! certificate, name the system's bundle).

use std::{path::Path, time::Duration};

use anyhow::{Context, anyhow, bail};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::api::{auth, tls};

/// How to reach the server (flattened into each client command).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Server address: http://HOST:PORT (plaintext), or https://HOST:PORT for a server with TLS
    /// (then give --ca-cert).
    #[arg(
        long,
        env = "ASPFLOW_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub server: String,
    /// PEM file with the certificate of the CA that signed the server's certificate (https://
    /// only). For a certificate from a public CA, give the system's bundle, e.g.
    /// /etc/ssl/certs/ca-certificates.crt.
    #[arg(long, env = "ASPFLOW_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// PEM client certificate, for a server that requires one (mutual TLS; with --client-key).
    #[arg(long, env = "ASPFLOW_CLIENT_CERT", global = true)]
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "ASPFLOW_CLIENT_KEY", global = true)]
    pub client_key: Option<std::path::PathBuf>,
    /// Bearer token (a JWT from your identity provider or `aspflow token mint`), or @FILE to
    /// read it from a file; sent as `authorization: Bearer ...` on every call. Prefer
    /// ASPFLOW_TOKEN or @FILE: a command line is visible to other users of the machine.
    #[arg(long, env = "ASPFLOW_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

/// Adds `authorization: Bearer <token>` to every call made through it (nothing without a
/// token: development mode).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert(auth::AUTHORIZATION, value.clone());
        }
        Ok(request)
    }
}

/// A connection to the server that authenticates every call; give it to any generated client
/// (`CasesClient::new(connection)`).
pub type Connection = InterceptedService<Channel, Bearer>;

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// The `authorization` value for `--token` (`@FILE` read from the file).
fn bearer(token: Option<&str>) -> anyhow::Result<Bearer> {
    let Some(token) = token else {
        return Ok(Bearer(None));
    };
    let token = match token.strip_prefix('@') {
        Some(path) => String::from_utf8(read(Path::new(path), "the token file")?)
            .map_err(|_| anyhow!("the token file {path} is not text"))?,
        None => token.to_owned(),
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("--token is empty");
    }
    let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow!("--token holds characters a token cannot have"))?;
    // Never logged by tonic's Debug output, and kept out of HTTP/2 header compression tables.
    value.set_sensitive(true);
    Ok(Bearer(Some(value)))
}

/// Connects to `args.server` (over TLS for https://) and returns a connection that sends the
/// token, if any, on every call.
///
/// # Errors
/// A malformed address, TLS options without https:// (or https:// without --ca-cert), an
/// unreadable or wrong PEM file, a bad token, or a server that cannot be reached (including a
/// failed TLS handshake).
pub async fn connect(args: &ServerArgs) -> anyhow::Result<Connection> {
    let server = &args.server;
    let bearer = bearer(args.token.as_deref())?;
    let mut endpoint = Endpoint::from_shared(server.clone())
        .map_err(|e| anyhow!("bad --server {server:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        // Each call is one small request: Nagle's algorithm would hold it back ~40 ms.
        .tcp_nodelay(true);
    let https = match endpoint.uri().scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("--server {server:?} must start with http:// or https://"),
    };
    let identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some((
            read(cert, "the client certificate")?,
            read(key, "the client key")?,
        )),
        (None, None) => None,
        _ => bail!("--client-cert and --client-key go together"),
    };
    if https {
        let ca_path = args.ca_cert.as_ref().ok_or_else(|| {
            anyhow!(
                "{server} is https://: give --ca-cert FILE (or ASPFLOW_CA_CERT), the PEM \
                 certificate of the CA that signed the server's certificate"
            )
        })?;
        let ca = read(ca_path, "the CA certificate")?;
        let config = tls::client_config(
            &ca,
            identity
                .as_ref()
                .map(|(cert, key)| (cert.as_slice(), key.as_slice())),
        )?;
        endpoint = endpoint
            .tls_config(config)
            .with_context(|| format!("TLS set-up for {server}"))?;
    } else if args.ca_cert.is_some() || identity.is_some() {
        bail!(
            "--ca-cert, --client-cert and --client-key need an https:// server address; \
             {server} is plaintext"
        );
    }
    let channel = endpoint.connect().await.with_context(|| {
        if https {
            format!(
                "cannot connect to the aspflow server at {server} over TLS (is `aspflow serve` \
                 running with --tls-cert, and did the CA in --ca-cert sign its certificate?)"
            )
        } else {
            format!("cannot reach the aspflow server at {server} (is `aspflow serve` running?)")
        }
    })?;
    Ok(InterceptedService::new(channel, bearer))
}

/// A hint for a call that failed below gRPC. A plaintext client talking to a TLS server gets
/// one of several transport errors (an HTTP/2 protocol error, a cancelled or broken
/// connection), none of which names the cause.
pub fn hint(status: &Status) -> Option<&'static str> {
    const TRANSPORT: [&str; 3] = [
        "h2 protocol error",
        "operation was canceled",
        "transport error",
    ];
    let message = status.message();
    TRANSPORT
        .iter()
        .any(|t| message.contains(t))
        .then_some("(the connection failed: if the server uses TLS, connect to https://HOST:PORT with --ca-cert)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_becomes_a_sensitive_bearer_value() {
        let Bearer(Some(v)) = bearer(Some(" abc.def.ghi\n")).unwrap() else {
            panic!("a token");
        };
        assert_eq!(v.to_str().unwrap(), "Bearer abc.def.ghi");
        assert!(v.is_sensitive());
        assert!(bearer(None).unwrap().0.is_none());
        assert!(bearer(Some("  ")).is_err());
        assert!(bearer(Some("a\nb")).is_err());
    }
}
