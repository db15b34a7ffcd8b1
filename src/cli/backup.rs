//! `aspflow backup --db URL -o FILE`: a consistent copy of an SQLite log in one new file,
//! safe while the server writes (SQLite `VACUUM INTO`, see [`SqliteStore::backup_to`]). The
//! source is opened read-only. PostgreSQL has its own tool: the command names the `pg_dump`
//! invocation instead (exit code 2), with the password hidden.

use std::{path::Path, process::ExitCode};

use anyhow::{Context, bail};

use super::redact;
use crate::store::{EventStore, SqliteStore, StoreConfig};

/// Quotes `text` for a POSIX shell, so that the printed command can be pasted as it is.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `aspflow backup`.
///
/// # Errors
/// A PostgreSQL URL (with the `pg_dump` hint), a missing or non-aspflow source, an existing
/// target, or a failed copy (each exit code 2).
pub async fn run(db: &str, output: &Path) -> anyhow::Result<ExitCode> {
    let path = match db.parse::<StoreConfig>()? {
        StoreConfig::Sqlite { path } => path,
        StoreConfig::Postgres { url, .. } => {
            let shown = redact(&url);
            let password_note = if shown == url {
                ""
            } else {
                "\n(the password is hidden: put it back, or give it with PGPASSWORD or ~/.pgpass)"
            };
            bail!(
                "aspflow backup copies SQLite databases only; back up PostgreSQL with pg_dump, \
                 e.g.:\n  pg_dump --format=custom --file={} --dbname={}{password_note}\nand \
                 check a restore with `aspflow audit verify --db URL`",
                shell_quote(&output.display().to_string()),
                shell_quote(&shown),
            );
        }
    };
    let source = SqliteStore::open_read_only(&path)
        .await
        .with_context(|| format!("cannot open the log at {}", redact(db)))?;
    let written = source
        .backup_to(output)
        .await
        .with_context(|| format!("cannot back up {} to {}", redact(db), output.display()))?;
    source.close().await?;
    // Read the count from the copy itself: it is what the backup holds.
    let copy = SqliteStore::open_read_only(&written)
        .await
        .with_context(|| format!("the copy at {} cannot be read back", written.display()))?;
    let events = copy.head_position().await?;
    copy.close().await?;
    println!(
        "backed up {events} events to {} (check it with: aspflow audit verify --db {})",
        written.display(),
        shell_quote(&format!("sqlite://{}", written.display()))
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
