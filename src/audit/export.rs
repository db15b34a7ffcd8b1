//! Case exports: JSON Lines that an outsider can verify with no database and no server.
//!
//! Line 1 is a header ([`ExportHeader`]); every further line is one stored envelope
//! ([`RecordedEvent`], payload in hex), in version order from version 1. The header may carry a
//! signed checkpoint whose head for this case the export must reproduce.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::Checkpoint;
use crate::store::{
    EventStore, RecordedEvent, StoreError, StreamId,
    chain::{ChainBreak, ChainVerifier},
};

/// Format tag of exports.
pub const EXPORT_FORMAT: &str = "aspflow.export.v1";

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The case.
    pub case_id: StreamId,
    /// Number of event lines that follow.
    pub events: u64,
    /// When exported.
    pub exported_at: DateTime<Utc>,
    /// A signed checkpoint taken at export time (server exports), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// Reads a case's envelopes for export.
///
/// # Errors
/// [`StoreError`].
pub async fn export_lines(
    store: &impl EventStore,
    case: StreamId,
    exported_at: DateTime<Utc>,
    checkpoint: Option<Checkpoint>,
) -> Result<Vec<String>, StoreError> {
    let events = store.read_stream(case, 1, None).await?;
    let header = ExportHeader {
        format: EXPORT_FORMAT.to_owned(),
        case_id: case,
        events: events.len() as u64,
        exported_at,
        checkpoint,
    };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("export: {e}"));
    let mut lines = Vec::with_capacity(events.len() + 1);
    lines.push(serde_json::to_string(&header).map_err(corrupt)?);
    for e in &events {
        lines.push(serde_json::to_string(e).map_err(corrupt)?);
    }
    Ok(lines)
}

/// What verifying an export found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The case.
    pub case_id: StreamId,
    /// Events checked.
    pub events: u64,
    /// The first broken link, if any.
    pub first_break: Option<ChainBreak>,
    /// The checkpoint's verdict: `None` without a checkpoint.
    pub checkpoint: Option<Result<String, String>>,
}

impl ExportReport {
    /// `true` when the chain holds and any checkpoint agrees.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none() && !matches!(self.checkpoint, Some(Err(_)))
    }
}

/// Why an export could not be read at all (as opposed to read and found tampered).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading failed.
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not what the format says.
    #[error("line {line}: {message}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Verifies an export: the chain from version 1, the header's counts, and, if the header has a
/// checkpoint, its signature (against `key` if given) and the case head it records.
///
/// # Errors
/// [`ExportError`] when the file is not an export.
pub fn verify_export(
    reader: impl BufRead,
    key: Option<&VerifyingKey>,
) -> Result<ExportReport, ExportError> {
    let mut lines = reader.lines();
    let first = lines.next().ok_or(ExportError::Format {
        line: 1,
        message: "empty file".into(),
    })??;
    let header: ExportHeader = serde_json::from_str(&first).map_err(|e| ExportError::Format {
        line: 1,
        message: format!("not an export header: {e}"),
    })?;
    if header.format != EXPORT_FORMAT {
        return Err(ExportError::Format {
            line: 1,
            message: format!("unknown format {:?}", header.format),
        });
    }
    let mut verifier = ChainVerifier::for_streams();
    let mut events: Vec<RecordedEvent> = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let e: RecordedEvent = serde_json::from_str(&line).map_err(|err| ExportError::Format {
            line: i + 2,
            message: format!("not an event envelope: {err}"),
        })?;
        if e.stream != header.case_id {
            return Err(ExportError::Format {
                line: i + 2,
                message: format!(
                    "event of case {}, the export is of {}",
                    e.stream, header.case_id
                ),
            });
        }
        verifier.push(&e);
        events.push(e);
    }
    let report = verifier.finish();
    if report.first_break.is_none() && events.len() as u64 != header.events {
        return Ok(ExportReport {
            case_id: header.case_id,
            events: events.len() as u64,
            first_break: None,
            checkpoint: Some(Err(format!(
                "the header announces {} events, the file has {}",
                header.events,
                events.len()
            ))),
        });
    }
    let checkpoint = header.checkpoint.as_ref().map(|cp| {
        cp.verify_signature(key)?;
        let head = cp
            .case_heads
            .iter()
            .find(|h| h.case_id == header.case_id)
            .ok_or_else(|| "the checkpoint does not cover this case".to_owned())?;
        let e = events
            .iter()
            .find(|e| e.version == head.version)
            .ok_or_else(|| {
                format!(
                    "the export lacks version {} that the checkpoint covers",
                    head.version
                )
            })?;
        if e.hash != head.hash {
            return Err(format!(
                "version {} hashes to {} in the export, the signed checkpoint says {}",
                head.version, e.hash, head.hash
            ));
        }
        Ok(format!(
            "signed checkpoint of {} (key {}) covers versions 1-{} of this case",
            cp.created_at, cp.public_key, head.version
        ))
    });
    Ok(ExportReport {
        case_id: header.case_id,
        events: report.events_checked,
        first_break: report.first_break,
        checkpoint,
    })
}
