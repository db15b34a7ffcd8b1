//! `aspflow token ...`: bearer tokens for people and tools when there is no identity provider
//! (small deployments, scripts, tests). `mint` signs a token with the server's HS256 secret or
//! with an Ed25519 private key (`api::token::mint`); `keygen` writes a new HS256 secret.
//!
//! A token names its bearer (`sub`, `name`) and the roles they may act in, and expires. It
//! never carries a region: a focal point's region, and the President's, come from the current
//! roster, whose appointments name token subjects (`engine::identity`).

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::{
    api::token::{self, Claims, MintKey},
    clock::{Clock, SystemClock},
    domain::Role,
};

/// `aspflow token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed bearer token (JWT) for a person or a tool, valid for --ttl.
    ///
    /// The token names the subject and the roles it may act in. It carries no region: a focal
    /// point's region (and the President's own) comes from the current roster, whose
    /// appointment names the token's subject. Give the token to the client as --token or
    /// ASPFLOW_TOKEN.
    Mint(MintArgs),
    /// Write a new random HS256 secret (32 bytes, hex) to a new file, readable by its owner
    /// only. Use it with `aspflow serve --auth-hs256-secret-file` and `aspflow token mint
    /// --key`.
    Keygen(KeygenArgs),
}

/// How `mint` signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    /// HMAC-SHA256 with the shared secret file the server also has.
    Hs256,
    /// Ed25519 with a PKCS#8 PEM private key; the server has the public key
    /// (--auth-public-key) or a JWKS naming it (--auth-jwks, then give --kid).
    Eddsa,
}

/// `aspflow token mint` options.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// The signing key: the HS256 secret file (--alg hs256), or an Ed25519 private key in
    /// PKCS#8 PEM (--alg eddsa).
    #[arg(long)]
    pub key: PathBuf,
    /// The signature algorithm.
    #[arg(long, value_enum, default_value_t = Alg::Hs256)]
    pub alg: Alg,
    /// Who the bearer is (`sub`): recorded as the actor of every act done with the token.
    #[arg(long)]
    pub sub: String,
    /// A role the bearer may act in (repeatable): court_liaison, president, bureau,
    /// focal_point, secretariat, auditor, observer. With several, the client picks one per
    /// call with --as.
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
    /// Display name (`name`).
    #[arg(long)]
    pub name: Option<String>,
    /// How long the token is valid: a number and a unit, s, m, h or d (e.g. 30m, 8h, 2d; at
    /// most 366d). A token cannot be revoked before it expires: keep it short for people.
    #[arg(long, default_value = "8h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// `iss`, when the server checks it (--auth-issuer).
    #[arg(long)]
    pub issuer: Option<String>,
    /// `aud`, when the server checks it (--auth-audience).
    #[arg(long)]
    pub audience: Option<String>,
    /// Key id (`kid` header), naming the key in the server's JWKS document.
    #[arg(long)]
    pub kid: Option<String>,
}

/// `aspflow token keygen` options.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write a new HS256 secret to this file (it must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub hs256: PathBuf,
}

/// Longest --ttl accepted: a token cannot be revoked before it expires, so a long-lived one
/// is a standing risk; a year is already generous for a service account.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a duration such as `30m`, `8h`, `2d` or `90s`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 30m, 8h or 2d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number: write e.g. 30m, 8h or 2d"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h or d"
            ));
        }
    };
    let ttl = Duration::from_secs(n.saturating_mul(unit_seconds));
    if ttl.is_zero() {
        return Err("--ttl must be longer than zero".into());
    }
    if ttl > MAX_TTL {
        return Err(format!("{text:?} is longer than the limit of 366d"));
    }
    Ok(ttl)
}

/// The roles, checked: a typo would otherwise give a token the server ignores.
fn roles(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut roles: Vec<String> = Vec::new();
    for name in names {
        match Role::parse(name) {
            Some(Role::System) | None => bail!(
                "unknown role {name:?}: use court_liaison, president, bureau, focal_point, \
                 secretariat, auditor or observer"
            ),
            Some(role) => {
                let role = role.as_str().to_owned();
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
        }
    }
    Ok(roles)
}

fn signing_key(args: &MintArgs) -> anyhow::Result<MintKey> {
    let path = &args.key;
    let looks_pem = |bytes: &[u8]| bytes.trim_ascii_start().starts_with(b"-----BEGIN");
    match args.alg {
        Alg::Hs256 => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if looks_pem(&bytes) {
                bail!(
                    "{} holds a PEM key, not an HS256 secret: for an Ed25519 key add --alg eddsa",
                    path.display()
                );
            }
            Ok(MintKey::Hs256(token::read_secret(path)?))
        }
        Alg::Eddsa => {
            let pem =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let text = String::from_utf8_lossy(&pem);
            if text.contains("PUBLIC KEY") {
                bail!(
                    "{} holds a public key: minting needs the private key (the server gets the \
                     public one, --auth-public-key)",
                    path.display()
                );
            }
            if !text.contains("PRIVATE KEY") {
                bail!(
                    "{} is not a PEM private key: --alg eddsa needs an Ed25519 key in PKCS#8 PEM \
                     (-----BEGIN PRIVATE KEY-----)",
                    path.display()
                );
            }
            Ok(MintKey::EdDsaPem(pem))
        }
    }
}

fn mint(args: &MintArgs) -> anyhow::Result<ExitCode> {
    if args.sub.trim().is_empty() {
        bail!("--sub must name someone");
    }
    let roles = roles(&args.roles)?;
    let key = signing_key(args)?;
    let now = SystemClock.now();
    let iat = u64::try_from(now.timestamp()).context("the system clock is before 1970")?;
    let exp = iat.saturating_add(args.ttl.as_secs());
    let (role, many) = match roles.as_slice() {
        [one] => (Some(one.clone()), Vec::new()),
        _ => (None, roles.clone()),
    };
    let claims = Claims {
        sub: args.sub.clone(),
        name: args.name.clone(),
        role,
        roles: many,
        exp,
        nbf: None,
        iat: Some(iat),
        iss: args.issuer.clone(),
        aud: args.audience.clone(),
    };
    let jwt = token::mint(&key, args.kid.clone(), &claims)
        .with_context(|| format!("cannot sign with {}", args.key.display()))?;
    let until = chrono::DateTime::from_timestamp(i64::try_from(exp).unwrap_or(i64::MAX), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    println!("{jwt}");
    eprintln!(
        "token for {} acting as {} valid until {until}",
        args.sub,
        roles.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let path = &args.hs256;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow!("no random source: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!("{} exists already: not overwritten", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    writeln!(file, "{}", hex::encode(secret))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote a new HS256 secret to {} (owner-only); give it to `aspflow serve \
         --auth-hs256-secret-file` and `aspflow token mint --key`, and to no one else",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs an `aspflow token` subcommand.
///
/// # Errors
/// An unreadable or wrong key, an unknown role, a file that exists already.
pub fn run(cmd: &TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Mint(args) => mint(args),
        TokenCommand::Keygen(args) => keygen(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "8", "h", "8w", "0h", "-1h", "1.5h", "400d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_checked_and_deduplicated() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            roles(&names(&["bureau", "president", "bureau"])).unwrap(),
            ["bureau", "president"]
        );
        assert!(roles(&names(&["system"])).is_err());
        assert!(roles(&names(&["Bureau"])).is_err());
    }
}
