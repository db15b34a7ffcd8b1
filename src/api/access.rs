//! Who may call which RPC: one table for every RPC of `aspflow.v1`, deny by default.
//!
//! Writes take their roles from the domain's command permissions
//! ([`crate::domain::permissions::allowed_roles`]), which stay the single source for commands:
//! the table only says which commands an RPC carries. Reads, streams, roster and audit RPCs
//! list their roles here. `grpc.health.v1` and server reflection are open and not listed.
//! A test checks that every RPC in the embedded descriptors has a row, and walks the whole
//! role x RPC matrix over gRPC; docs/api.md prints the table ([`markdown`]).

use crate::domain::{
    Role,
    permissions::{CommandKind, allowed_roles},
};

/// What an RPC requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated caller.
    Anyone,
    /// These roles.
    Roles(&'static [Role]),
    /// Whoever the domain lets issue this command.
    Command(CommandKind),
    /// Whoever the domain lets issue at least one command (the command itself is then checked
    /// by the domain, with its region rules).
    AnyCommand,
}

/// Every person's role: reads are open to all of them.
const READERS: &[Role] = &Role::PEOPLE;
/// Whole-log scans (they read every event): auditors and the Secretariat.
const LOG_SCANNERS: &[Role] = &[Role::Auditor, Role::Secretariat];
/// A case's chain and export.
const CASE_AUDITORS: &[Role] = &[
    Role::Auditor,
    Role::Secretariat,
    Role::President,
    Role::Bureau,
];

/// Every RPC of `aspflow.v1` (`/<package>.<Service>/<Method>`) and who may call it.
pub const RPCS: &[(&str, Access)] = &[
    (
        "/aspflow.v1.Cases/OpenFormalCase",
        Access::Command(CommandKind::OpenFormalCase),
    ),
    (
        "/aspflow.v1.Cases/OpenPreventiveCase",
        Access::Command(CommandKind::OpenPreventiveCase),
    ),
    (
        "/aspflow.v1.Cases/ProposeInterpretativeResolution",
        Access::Command(CommandKind::ProposeInterpretativeResolution),
    ),
    ("/aspflow.v1.Cases/Execute", Access::AnyCommand),
    ("/aspflow.v1.Cases/GetCase", Access::Roles(READERS)),
    ("/aspflow.v1.Cases/ListCases", Access::Roles(READERS)),
    ("/aspflow.v1.Cases/GetHistory", Access::Roles(READERS)),
    ("/aspflow.v1.Cases/WatchCase", Access::Roles(READERS)),
    ("/aspflow.v1.Cases/AvailableActions", Access::Roles(READERS)),
    ("/aspflow.v1.EventLog/Subscribe", Access::Roles(READERS)),
    (
        "/aspflow.v1.Roster/RequestFifthFocalPoint",
        Access::Command(CommandKind::RequestFifthFocalPoint),
    ),
    (
        "/aspflow.v1.Roster/AppointFocalPoints",
        Access::Command(CommandKind::AppointFocalPoints),
    ),
    (
        "/aspflow.v1.Roster/ReplaceFocalPoint",
        Access::Command(CommandKind::ReplaceFocalPoint),
    ),
    (
        "/aspflow.v1.Roster/AdoptProcedureRules",
        Access::Command(CommandKind::AdoptProcedureRules),
    ),
    ("/aspflow.v1.Roster/GetRoster", Access::Roles(READERS)),
    ("/aspflow.v1.Roster/GetRulesInForce", Access::Roles(READERS)),
    (
        "/aspflow.v1.Audit/GetCheckpoint",
        Access::Roles(LOG_SCANNERS),
    ),
    ("/aspflow.v1.Audit/GetPublicKey", Access::Anyone),
    ("/aspflow.v1.Audit/VerifyCase", Access::Roles(CASE_AUDITORS)),
    ("/aspflow.v1.Audit/VerifyLog", Access::Roles(LOG_SCANNERS)),
    ("/aspflow.v1.Audit/ExportCase", Access::Roles(CASE_AUDITORS)),
    (
        "/aspflow.v1.Audit/ListCheckpoints",
        Access::Roles(LOG_SCANNERS),
    ),
    ("/aspflow.v1.Server/GetServerInfo", Access::Anyone),
];

/// The roles that may call `rpc`; `None` for an RPC that is not in the table (denied).
pub fn allowed(rpc: &str) -> Option<Vec<Role>> {
    let (_, access) = RPCS.iter().find(|(name, _)| *name == rpc)?;
    let people = Role::PEOPLE.into_iter();
    Some(match access {
        Access::Anyone => people.collect(),
        Access::Roles(roles) => roles.to_vec(),
        Access::Command(kind) => allowed_roles(*kind).to_vec(),
        Access::AnyCommand => people
            .filter(|r| {
                CommandKind::ALL
                    .iter()
                    .any(|k| allowed_roles(*k).contains(r))
            })
            .collect(),
    })
}

/// The command an `ExecuteRequest` carries, by the name of its `command` field (the proto's
/// oneof field names are the domain's command names); `None` when it carries none.
pub fn command_of(req: &crate::pb::ExecuteRequest) -> Option<CommandKind> {
    // Only the oneof is encoded, and only its key read: the field number names the command.
    let mut bytes = Vec::new();
    req.command.as_ref()?.encode(&mut bytes);
    let (number, _) = prost::encoding::decode_key(&mut bytes.as_slice()).ok()?;
    let field = super::limits::descriptors()?
        .get_message_by_name("aspflow.v1.ExecuteRequest")?
        .get_field(number)?;
    serde_json::from_value(serde_json::Value::String(field.name().to_owned())).ok()
}

/// Whether `rpc` records acts (its roles come from the domain's command permissions).
pub fn is_write(rpc: &str) -> bool {
    RPCS.iter()
        .any(|(name, a)| *name == rpc && matches!(a, Access::Command(_) | Access::AnyCommand))
}

/// The table as Markdown (docs/api.md carries it; a test keeps the two equal).
pub fn markdown() -> String {
    let mut out = String::from("| RPC | roles that may call it |\n|---|---|\n");
    for (rpc, access) in RPCS {
        let roles = allowed(rpc).unwrap_or_default();
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let how = match access {
            Access::Anyone => {
                "any authenticated caller (in token mode: any valid token)".to_owned()
            }
            Access::Command(k) => format!("{} (domain: `{}`)", names.join(", "), k.as_str()),
            Access::AnyCommand => format!(
                "{} (then the domain's permission for the command)",
                names.join(", ")
            ),
            Access::Roles(_) => names.join(", "),
        };
        out.push_str(&format!("| `{}` | {how} |\n", rpc.trim_start_matches('/')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_in_the_descriptors_has_a_row() {
        let pool = prost_reflect::DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .expect("embedded descriptors");
        let mut names = Vec::new();
        for service in pool.services() {
            for method in service.methods() {
                names.push(format!("/{}/{}", service.full_name(), method.name()));
            }
        }
        for name in &names {
            assert!(allowed(name).is_some(), "no access row for {name}");
        }
        for (rpc, _) in RPCS {
            assert!(names.iter().any(|n| n == rpc), "row for unknown RPC {rpc}");
        }
    }

    #[test]
    fn docs_api_md_carries_the_table() {
        let doc = include_str!("../../docs/api.md");
        assert!(
            doc.contains(&markdown()),
            "docs/api.md is out of date; put this table in it:\n{}",
            markdown()
        );
    }

    #[test]
    fn nobody_reads_as_system_and_observers_write_nothing() {
        for (rpc, _) in RPCS {
            let roles = allowed(rpc).unwrap_or_default();
            assert!(!roles.contains(&Role::System), "{rpc}");
        }
        assert!(
            !allowed("/aspflow.v1.Cases/Execute")
                .unwrap_or_default()
                .contains(&Role::Observer)
        );
    }
}
