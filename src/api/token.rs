//! Bearer tokens: verifying the JWTs callers present, and minting them for operators and tests.
//!
//! Verification keys come from one of: an HS256 shared secret file (small deployments), a JWKS
//! document as an OIDC provider publishes it (RS256, ES256, EdDSA keys, chosen by the token's
//! `kid`), or one PEM public key. Issuer, audience, expiry and not-before are checked, with a
//! small clock skew allowed ([`LEEWAY_SECONDS`]). What the token may say about its bearer:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | the person or service (required); recorded as the actor of every act |
//! | `name` | display name (optional) |
//! | `role` or `roles` | the role(s) the bearer may act in (`president`, `bureau`, ...) |
//!
//! A region is never taken from a token: a focal point's region is their roster appointment
//! (see `api::auth`). Called by `api::auth` for every request, and by `aspflow token mint`.

use std::path::Path;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    jwk::JwkSet,
};
use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// Why a token or a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A key file could not be read or parsed.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The token is malformed, badly signed, expired, not yet valid, or for another
    /// issuer or audience.
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
}

/// The verified claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// `name`, if given.
    pub name: Option<String>,
    /// Every role the token grants (unknown role names are ignored).
    pub roles: Vec<Role>,
}

/// The claims aspflow reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Several roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// What [`Verifier::verify`] reads from a token. `iss`, `aud`, `exp` and `nbf` are checked by
/// jsonwebtoken on the raw claims; they are not read into this struct because an OIDC provider
/// may send `aud` as an array (Keycloak does), which [`Claims`] cannot hold.
#[derive(Deserialize)]
struct Presented {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

enum Keys {
    Secret(DecodingKey),
    Set(Vec<(Option<String>, Algorithm, DecodingKey)>),
}

/// Where the server's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding the HS256 shared secret (its bytes, surrounding white space removed).
    Hs256SecretFile(std::path::PathBuf),
    /// A JWKS document (`{"keys": [...]}`).
    JwksFile(std::path::PathBuf),
    /// One PEM public key (RSA, EC P-256 or Ed25519), for RS256, ES256 or EdDSA.
    PublicKeyPem(std::path::PathBuf),
}

/// The server's token verifier.
pub struct Verifier {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
}

fn key_error(path: &Path, message: impl std::fmt::Display) -> TokenError {
    TokenError::KeyFile {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TokenError> {
    std::fs::read(path).map_err(|e| key_error(path, e))
}

/// The HS256 secret in a file: its content without surrounding white space.
///
/// # Errors
/// [`TokenError::KeyFile`] when unreadable or shorter than 32 bytes.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, TokenError> {
    let bytes = read(path)?;
    let secret = bytes.trim_ascii().to_vec();
    if secret.len() < 32 {
        return Err(key_error(
            path,
            format!(
                "an HS256 secret needs at least 32 bytes, the file has {}",
                secret.len()
            ),
        ));
    }
    Ok(secret)
}

type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

fn pem_key(path: &Path) -> Result<(Algorithm, DecodingKey), TokenError> {
    let pem = read(path)?;
    let text = String::from_utf8_lossy(&pem);
    let attempts: [(Algorithm, PemParser); 3] = [
        (Algorithm::EdDSA, DecodingKey::from_ed_pem),
        (Algorithm::ES256, DecodingKey::from_ec_pem),
        (Algorithm::RS256, DecodingKey::from_rsa_pem),
    ];
    if !text.contains("PUBLIC KEY") {
        return Err(key_error(path, "expected a PEM public key"));
    }
    for (alg, parse) in attempts {
        // The PEM decoder classifies the key by its algorithm identifier, so only the right
        // parser accepts it.
        if let Ok(k) = parse(&pem) {
            return Ok((alg, k));
        }
    }
    Err(key_error(
        path,
        "not an RSA, EC P-256 or Ed25519 public key in PEM",
    ))
}

impl Verifier {
    /// Loads the keys.
    ///
    /// # Errors
    /// [`TokenError::KeyFile`] when a file is missing or not a key.
    pub fn load(
        source: &KeySource,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, TokenError> {
        let keys = match source {
            KeySource::Hs256SecretFile(p) => Keys::Secret(
                DecodingKey::from_secret(&read_secret(p)?).map_err(|e| key_error(p, e))?,
            ),
            KeySource::JwksFile(p) => {
                let set: JwkSet = serde_json::from_slice(&read(p)?).map_err(|e| key_error(p, e))?;
                let mut keys = Vec::new();
                for jwk in &set.keys {
                    let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                        Some("RS256") => Algorithm::RS256,
                        Some("ES256") => Algorithm::ES256,
                        Some("EdDSA") => Algorithm::EdDSA,
                        Some(_) => continue,
                        None => match &jwk.algorithm {
                            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                                Algorithm::ES256
                            }
                            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => {
                                Algorithm::EdDSA
                            }
                            _ => continue,
                        },
                    };
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error(p, e))?;
                    keys.push((jwk.common.key_id.clone(), alg, key));
                }
                if keys.is_empty() {
                    return Err(key_error(
                        p,
                        "no RS256, ES256 or EdDSA key in the JWKS document",
                    ));
                }
                Keys::Set(keys)
            }
            KeySource::PublicKeyPem(p) => {
                let (alg, key) = pem_key(p)?;
                Keys::Set(vec![(None, alg, key)])
            }
        };
        Ok(Verifier {
            keys,
            issuer,
            audience,
        })
    }

    /// Verifies `token` and returns who it names.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] saying why (signature, expiry, issuer, audience, no subject).
    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
        let header = decode_header(token).map_err(invalid)?;
        let (alg, key) = match &self.keys {
            Keys::Secret(k) => (Algorithm::HS256, k),
            Keys::Set(keys) => {
                let found = match &header.kid {
                    Some(kid) => keys.iter().find(|(id, _, _)| id.as_deref() == Some(kid)),
                    None if keys.len() == 1 => keys.first(),
                    None => None,
                };
                let (_, alg, key) = found.ok_or_else(|| {
                    TokenError::Invalid(match &header.kid {
                        Some(kid) => format!("no key with kid {kid:?}"),
                        None => "the token names no key (kid) and several are configured".into(),
                    })
                })?;
                (*alg, key)
            }
        };
        if header.alg != alg {
            return Err(TokenError::Invalid(format!(
                "the token is signed with {:?}; this server expects {alg:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECONDS;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "sub"]);
        match &self.issuer {
            Some(iss) => v.set_issuer(&[iss]),
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        let claims = decode::<Presented>(token, key, &v).map_err(invalid)?.claims;
        if claims.sub.trim().is_empty() {
            return Err(TokenError::Invalid("the token has an empty subject".into()));
        }
        let roles = claims
            .role
            .iter()
            .chain(claims.roles.iter())
            .filter_map(|r| Role::parse(r))
            .filter(|r| *r != Role::System)
            .collect();
        Ok(Identity {
            subject: claims.sub,
            name: claims.name,
            roles,
        })
    }
}

/// How `aspflow token mint` signs.
pub enum MintKey {
    /// HS256 with a shared secret.
    Hs256(Vec<u8>),
    /// EdDSA with an Ed25519 private key in PKCS#8 PEM.
    EdDsaPem(Vec<u8>),
}

/// Signs `claims` into a token.
///
/// # Errors
/// [`TokenError::Invalid`] when the key cannot sign.
pub fn mint(key: &MintKey, kid: Option<String>, claims: &Claims) -> Result<String, TokenError> {
    let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
    let (alg, enc) = match key {
        MintKey::Hs256(secret) => (
            Algorithm::HS256,
            EncodingKey::from_secret(secret).map_err(invalid)?,
        ),
        MintKey::EdDsaPem(pem) => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(pem).map_err(invalid)?,
        ),
    };
    let mut header = Header::new(alg);
    header.kid = kid;
    encode(&header, claims, &enc).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn verifier(audience: Option<&str>) -> Verifier {
        Verifier {
            keys: Keys::Secret(DecodingKey::from_secret(SECRET).expect("a key")),
            issuer: None,
            audience: audience.map(str::to_owned),
        }
    }

    fn token(claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET).expect("a key"),
        )
        .expect("signed")
    }

    /// Keycloak and other OIDC providers send `aud` as an array.
    #[test]
    fn an_audience_array_is_accepted_when_it_names_us() {
        let far = 4_102_444_800u64; // 2100-01-01
        let t = token(&serde_json::json!({
            "sub": "f3c1", "roles": ["bureau"], "exp": far, "aud": ["aspflow", "account"],
        }));
        let id = verifier(Some("aspflow")).verify(&t).expect("valid");
        assert_eq!(id.subject, "f3c1");
        assert_eq!(id.roles, vec![Role::Bureau]);
        assert!(verifier(Some("other")).verify(&t).is_err());
        assert!(verifier(None).verify(&t).is_ok());
    }
}
