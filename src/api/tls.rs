//! TLS for the gRPC edge: rustls on ring (through tonic's `tls-ring`), no OpenSSL.
//!
//! [`server_config`] turns the server's PEM certificate chain and private key, and optionally
//! the PEM certificate of a client CA, into the [`ServerTlsConfig`] that [`super::run`] applies.
//! With a client CA the server requires mutual TLS: a client without a certificate signed by
//! that CA is refused during the handshake, before any RPC runs. Client certificates only
//! authenticate the connection; who acts, and in which role, still comes from the bearer token
//! (`api::auth`).
//!
//! The files are read by the caller (`aspflow serve`, tests), as STYLE.md habit 12 asks; this
//! module checks their content once, so that a wrong file is reported at start-up, by what it
//! should have held, instead of as failed handshakes later. [`client_config`] is the client
//! side (used by `cli::connect` and the tests).

use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// How long a client may take to complete the TLS handshake before the connection is dropped
/// (a client that connects and says nothing would otherwise hold a socket for ever).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input does not hold what it should.
    #[error("{what}: {message}")]
    Pem {
        /// Which input (`the certificate chain`, `the private key`, `the client CA`).
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the combination (e.g. the key does not belong to the certificate).
    #[error("the TLS configuration was refused: {0}")]
    Refused(String),
}

fn certificates(what: &'static str, pem: &[u8]) -> Result<usize, TlsError> {
    // Only the PEM framing is checked here; rustls checks the DER when the config is built.
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            message: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            message: "no certificate (-----BEGIN CERTIFICATE-----) found".into(),
        });
    }
    Ok(certs.len())
}

fn private_key(pem: &[u8]) -> Result<(), TlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map(drop)
        .map_err(|e| TlsError::Pem {
            what: "the private key",
            message: format!("no PKCS#8, PKCS#1 or SEC1 private key in PEM found ({e})"),
        })
}

/// The server's TLS configuration: its certificate chain (leaf first) and private key (PKCS#8,
/// PKCS#1 or SEC1 PEM), and with `client_ca_pem` the CA that must have signed every client's
/// certificate (mutual TLS). Handshakes time out after [`HANDSHAKE_TIMEOUT`].
///
/// # Errors
/// [`TlsError::Pem`] when an input holds no certificate or no private key;
/// [`TlsError::Refused`] when rustls refuses them together (e.g. a key of another
/// certificate).
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<ServerTlsConfig, TlsError> {
    certificates("the certificate chain", cert_chain_pem)?;
    private_key(key_pem)?;
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_chain_pem, key_pem))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca) = client_ca_pem {
        certificates("the client CA", ca)?;
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    // Build it once now: this is where rustls checks that the key matches the certificate.
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .map_err(|e| {
            TlsError::Refused(
                std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string),
            )
        })?;
    Ok(config)
}

/// A client's TLS configuration: trust the CA certificate(s) in `ca_pem` (and no others), and
/// with `client_identity` (certificate chain PEM, private key PEM) present that certificate to
/// a server that requires one. The server name checked is the host of the URL connected to
/// (a DNS name or an IP address in the certificate's subject alternative names).
///
/// # Errors
/// [`TlsError::Pem`] when an input holds no certificate or no private key.
pub fn client_config(
    ca_pem: &[u8],
    client_identity: Option<(&[u8], &[u8])>,
) -> Result<ClientTlsConfig, TlsError> {
    certificates("the CA certificate", ca_pem)?;
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some((cert, key)) = client_identity {
        certificates("the client certificate", cert)?;
        private_key(key)?;
        config = config.identity(Identity::from_pem(cert, key));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_foreign_inputs_are_named() {
        let err = server_config(b"", b"", None).unwrap_err();
        assert!(
            err.to_string().starts_with("the certificate chain"),
            "{err}"
        );
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = server_config(cert, b"not a key", None).unwrap_err();
        assert!(err.to_string().starts_with("the private key"), "{err}");
    }
}
