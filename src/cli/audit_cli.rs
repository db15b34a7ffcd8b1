//! `aspflow audit ...`: the auditor's tools. Exit codes: 0 verified, 1 tampering found,
//! 2 could not run (any error returned from here).
//!
//! Every tool that reads a database opens it read-only ([`open_log_read_only`]): it never
//! creates a file, never migrates, never writes, and refuses a missing file, a database
//! without the aspflow schema and an empty log (exit 2) rather than "verify" nothing.

use std::{io::Write, process::ExitCode, sync::Arc};

use anyhow::{Context, anyhow};

use super::{AuditCommand, connect::connect, open_log_read_only};
use crate::{
    audit::{self, CheckpointCheck, explain, export, keys},
    clock::{Clock, SystemClock, V7Ids},
    domain::{Context as DomainContext, Principal, ProcedureRules, case},
    engine::{AsOf, Engine},
    pb::{self, audit_client::AuditClient},
    store::{CheckpointQuery, EventStore, StreamId, chain},
};

fn tampered(yes: bool) -> ExitCode {
    if yes {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// An engine over the log at `db`, opened read-only for a tool that would `act` on it.
async fn engine(db: &str, act: &str) -> anyhow::Result<Engine> {
    Ok(Engine::new(
        open_log_read_only(db, act).await?,
        Arc::new(SystemClock),
        Arc::new(V7Ids),
        ProcedureRules::default(),
    ))
}

/// Runs an audit subcommand.
///
/// # Errors
/// Anything that prevents the check from running (exit code 2).
pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify {
            db,
            case,
            checkpoint,
            public_key,
            json,
        } => {
            let cp = match &checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Some(
                        serde_json::from_str::<audit::Checkpoint>(&text)
                            .with_context(|| format!("{} is not a checkpoint", path.display()))?,
                    )
                }
                None => None,
            };
            let key = public_key
                .as_ref()
                .map(|p| keys::read_public_key(p))
                .transpose()?;
            let store = open_log_read_only(&db, "verify").await?;
            // No checkpoint file but a key: the latest checkpoint that key signed and a server
            // stored in the database (serve --checkpoint-every).
            let cp = match (cp, &key) {
                (None, Some(k)) => {
                    let hex_key = hex::encode(k.as_bytes());
                    let stored = store
                        .stored_checkpoints(&CheckpointQuery {
                            public_key: Some(hex_key.clone()),
                            limit: 1,
                            ..CheckpointQuery::default()
                        })
                        .await
                        .with_context(|| "cannot read the stored checkpoints".to_owned())?;
                    let Some(latest) = stored.into_iter().next() else {
                        anyhow::bail!(
                            "no checkpoint signed by key {hex_key} is stored in this database: \
                             give one with --checkpoint FILE, or let the server sign them \
                             (serve --checkpoint-every)"
                        );
                    };
                    println!(
                        "using stored checkpoint #{} ({}, head {}, {})",
                        latest.id, latest.period, latest.head_position, latest.created_at
                    );
                    Some(
                        serde_json::from_str::<audit::Checkpoint>(&latest.checkpoint_json)
                            .with_context(|| {
                                format!("stored checkpoint #{} is unreadable", latest.id)
                            })?,
                    )
                }
                (cp, _) => cp,
            };
            let report = match case {
                Some(c) => {
                    if store.stream_version(StreamId(c)).await?.is_none() {
                        anyhow::bail!("case {c} is not in the log: nothing to verify");
                    }
                    chain::verify_stream(&store, StreamId(c)).await?
                }
                None => chain::verify_log(&store).await?,
            };
            let cp_result = match &cp {
                None => None,
                Some(cp) => Some(match cp.verify_signature(key.as_ref()) {
                    Err(e) => CheckpointCheck::Differs {
                        first_position: 0,
                        last_position: 0,
                        detail: format!("checkpoint signature: {e}"),
                    },
                    Ok(()) => audit::check_against(&store, cp).await?,
                }),
            };
            let bad =
                !report.is_intact() || matches!(cp_result, Some(CheckpointCheck::Differs { .. }));
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "chains": report,
                        "checkpoint": cp_result,
                    }))?
                );
            } else {
                match &report.first_break {
                    Some(b) => println!(
                        "TAMPERED: first broken link after {} events: {b}",
                        report.events_checked
                    ),
                    None => println!(
                        "verified: {} events in {} case(s), every link holds",
                        report.events_checked, report.streams_checked
                    ),
                }
                if key.is_none() && cp.is_some() {
                    println!(
                        "note: no --public-key given: the checkpoint's signature was checked against the key it names"
                    );
                }
                match &cp_result {
                    Some(CheckpointCheck::Holds { head_position }) => println!(
                        "checkpoint holds: positions 1-{head_position} are all present and unchanged"
                    ),
                    Some(CheckpointCheck::Differs {
                        first_position,
                        last_position,
                        detail,
                    }) => {
                        if first_position == last_position {
                            println!(
                                "TAMPERED: the log differs from the checkpoint at position {first_position}: {detail}"
                            );
                        } else {
                            println!(
                                "TAMPERED: the log differs from the checkpoint between positions {first_position} and {last_position}: {detail}"
                            );
                        }
                    }
                    None => {}
                }
            }
            Ok(tampered(bad))
        }
        AuditCommand::Checkpoint { conn, role, output } => {
            let mut request = tonic::Request::new(pb::GetCheckpointRequest {});
            // A checkpoint is an auditor's call: in development mode (no token) that is the
            // role named by default; with a token, its own role unless --as picks one.
            let role = role.or_else(|| conn.token.is_none().then(|| "auditor".to_owned()));
            if let Some(r) = role {
                request
                    .metadata_mut()
                    .insert(crate::api::auth::ROLE, r.parse()?);
            }
            let cp = AuditClient::new(connect(&conn).await?)
                .get_checkpoint(request)
                .await
                .map_err(|s| {
                    let hint = super::connect::hint(&s).unwrap_or_default();
                    anyhow!("{:?}: {} {hint}", s.code(), s.message())
                })?
                .into_inner();
            match output {
                Some(path) => {
                    std::fs::write(&path, &cp.checkpoint_json)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "checkpoint of positions 1-{} signed by {} written to {}",
                        cp.head_position,
                        cp.public_key,
                        path.display()
                    );
                }
                None => println!("{}", cp.checkpoint_json),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Replay {
            case: which,
            db,
            as_of_version,
            as_of_recorded,
            as_of_legal,
            json,
        } => {
            let engine = engine(&db, "replay").await?;
            let id = engine.resolve(&which).await?;
            let as_of = match (as_of_version, as_of_recorded, as_of_legal) {
                (Some(v), None, None) => AsOf::Version(v),
                (None, Some(t), None) => AsOf::Recorded(t),
                (None, None, Some(t)) => AsOf::Legal(t),
                (None, None, None) => AsOf::Latest,
                _ => anyhow::bail!(
                    "give at most one of --as-of-version, --as-of-recorded, --as-of-legal"
                ),
            };
            let loaded = engine.load(id, as_of).await?;
            let now = SystemClock.now();
            // What could be done next, by any role: the rule-based answer, not this caller's.
            let next: Vec<String> = crate::domain::Role::ALL
                .iter()
                .flat_map(|r| {
                    let ctx = DomainContext {
                        now,
                        principal: Principal::new("replay", *r).in_region(
                            loaded
                                .state
                                .describe()
                                .and_then(|d| d.facts.map(|f| f.requested_state.region))
                                .unwrap_or(crate::domain::Region::African),
                        ),
                    };
                    case::available_actions(&loaded.state, &ctx)
                        .into_iter()
                        .filter(|a| a.denied.is_none())
                        .map(move |a| format!("{} ({})", a.command.as_str(), r.as_str()))
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "case_id": loaded.id,
                        "version": loaded.version,
                        "state": loaded.state,
                        "deadlines": loaded.state.deadlines(),
                        "next": next,
                    }))?
                );
            } else {
                println!("case      {}", loaded.id);
                println!("version   {}", loaded.version);
                println!("stage     {}", loaded.state.name());
                for d in loaded.state.deadlines() {
                    println!(
                        "deadline  {}: {} ({}), ends {}{}",
                        d.kind.label(),
                        d.due,
                        d.time_zone,
                        super::time_text(d.ends_at()),
                        if d.fires {
                            "; recorded automatically when it passes"
                        } else {
                            ""
                        }
                    );
                }
                println!("next possible acts (by role):");
                for n in &next {
                    println!("  {n}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Explain {
            case: which,
            db,
            json,
        } => {
            let engine = engine(&db, "explain").await?;
            let id = engine.resolve(&which).await?;
            let loaded = engine.load(id, AsOf::Latest).await?;
            let steps = explain::explain(&loaded);
            if json {
                println!("{}", serde_json::to_string_pretty(&steps)?);
            } else {
                for s in steps {
                    println!(
                        "v{} (position {}) {}  {} -> {}",
                        s.version, s.global_position, s.event_type, s.state_before, s.state_after
                    );
                    println!(
                        "    occurred {}  recorded {}  by {} ({})  rules v{}  {}",
                        super::time_text(s.occurred_at),
                        super::time_text(s.recorded_at),
                        s.actor,
                        s.role,
                        s.rules_version,
                        s.confidentiality
                    );
                    println!("    legal basis: {}", s.legal_basis.join("; "));
                    if !s.documents.is_empty() {
                        println!("    documents: {}", s.documents.join("; "));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            case: which,
            db,
            signing_key,
            output,
        } => {
            let engine = engine(&db, "export").await?;
            let id = engine.resolve(&which).await?;
            let now = SystemClock.now();
            let checkpoint = match signing_key {
                Some(path) => {
                    let key = keys::load_or_generate(&path)?;
                    Some(audit::take_checkpoint(engine.store(), &key, now).await?)
                }
                None => None,
            };
            let lines =
                export::export_lines(engine.store(), StreamId(id.0), now, checkpoint).await?;
            let mut f = std::fs::File::create(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            for l in &lines {
                writeln!(f, "{l}")?;
            }
            f.sync_all()?;
            eprintln!(
                "exported {} events of case {id} to {}",
                lines.len().saturating_sub(1),
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifyExport {
            file,
            public_key,
            json,
        } => {
            let key = public_key
                .as_ref()
                .map(|p| keys::read_public_key(p))
                .transpose()?;
            let reader = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("cannot open {}", file.display()))?,
            );
            let report = export::verify_export(reader, key.as_ref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                match &report.first_break {
                    Some(b) => println!("TAMPERED: {b}"),
                    None => println!(
                        "chain verified: {} events of case {}",
                        report.events, report.case_id
                    ),
                }
                match &report.checkpoint {
                    Some(Ok(m)) => println!("checkpoint: {m}"),
                    Some(Err(e)) => println!("TAMPERED: checkpoint: {e}"),
                    None => println!("no checkpoint in the file: only the chain was checked"),
                }
            }
            Ok(tampered(!report.is_intact()))
        }
    }
}
