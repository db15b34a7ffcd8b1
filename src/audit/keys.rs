//! The checkpoint signing key: an Ed25519 seed in a file (64 hex digits), generated on first use
//! with the operating system's random source, readable by the owner only; the public key is
//! written next to it (`<file>.pub`) and can be given to auditors.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No random source.
    #[error("no random source to generate a key: {0}")]
    Random(String),
}

/// Parses a public key from 64 hex digits.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("public key: {e}"))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("a public key has 32 bytes, found {}", bytes.len()))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("public key: {e}"))
}

/// Reads a public key file (64 hex digits).
///
/// # Errors
/// [`KeyError`].
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_public_key(&text).map_err(|message| KeyError::Malformed {
        path: path.to_owned(),
        message,
    })
}

/// The public key file written next to a signing key.
pub fn public_key_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Loads the signing key at `path`, generating it (and `<path>.pub`) if the file is absent.
///
/// # Errors
/// [`KeyError`].
pub fn load_or_generate(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let key = if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = hex::decode(text.trim()).map_err(|e| KeyError::Malformed {
            path: path.to_owned(),
            message: format!("expected 64 hex digits: {e}"),
        })?;
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Malformed {
                path: path.to_owned(),
                message: format!("expected 32 bytes, found {}", bytes.len()),
            })?;
        SigningKey::from_bytes(&seed)
    } else {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        write_private(path, &hex::encode(seed)).map_err(io)?;
        tracing::info!(key = %path.display(), "generated a new checkpoint signing key");
        SigningKey::from_bytes(&seed)
    };
    let public = hex::encode(key.verifying_key().as_bytes());
    std::fs::write(public_key_path(path), format!("{public}\n")).map_err(io)?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}
