//! The audit page (a case's chain verified by the server, the verifiable export, the key that
//! signs checkpoints) and the roster page.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures_util::StreamExt;
use maud::html;
use sha2::{Digest, Sha256};
use tonic::Code;

use super::{Console, i18n::t, views};
use crate::pb::{self, audit_server::Audit, cases_server::Cases, roster_server::Roster};

/// A key's fingerprint as people compare it: SHA-256 of the key's bytes, in groups of four.
pub fn fingerprint(key_hex: &str) -> String {
    let bytes = hex::decode(key_hex).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(&bytes));
    digest
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) async fn audit(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = match c.ctx(&headers, &format!("/cases/{id}/audit")) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = ctx.lang;
    let view = match c.case_view(&ctx.s, &id).await {
        Ok(v) => v,
        Err(s) => return c.failure(&ctx, &s),
    };
    let verified = c
        .audit
        .verify_case(ctx.s.request(pb::VerifyCaseRequest {
            case_id: view.case_id.clone(),
        }))
        .await
        .map(tonic::Response::into_inner);
    let key = c
        .audit
        .get_public_key(ctx.s.request(pb::GetPublicKeyRequest {}))
        .await
        .map(|k| k.into_inner().hex);
    let title = format!("{} — {}", view.reference, t(lang, "audit"));
    let body = html! {
        p.crumbs { a href=(format!("/cases/{}", view.case_id)) { (view.reference) } " › " (t(lang, "audit")) }
        h1 { (t(lang, "audit")) " — " (view.reference) }
        section aria-labelledby="h-verify" {
            h2 id="h-verify" { (t(lang, "chain_check")) }
            @match &verified {
                Ok(v) if v.intact => {
                    div.notice.ok role="status" id="verify-result" {
                        (t(lang, "chain_intact")) " " (v.events_checked) " " (t(lang, "events_checked"))
                    }
                }
                Ok(v) => {
                    div.notice.error role="alert" id="verify-result" {
                        (t(lang, "chain_broken")) " " (v.kind) " — " (t(lang, "version")) " " (v.version) ": " (v.detail)
                    }
                }
                Err(s) => { (views::notice("error", s.message())) }
            }
            p.help { (t(lang, "chain_help")) }
        }
        section aria-labelledby="h-export" {
            h2 id="h-export" { (t(lang, "export")) }
            p { a.button id="export-link" href=(format!("/cases/{}/export", view.case_id)) download=(format!("{}.jsonl", view.reference)) { (t(lang, "download_export")) } }
            p.help { (t(lang, "export_help")) }
        }
        section aria-labelledby="h-key" {
            h2 id="h-key" { (t(lang, "signing_key")) }
            @match &key {
                Ok(k) => {
                    dl.facts {
                        dt { (t(lang, "fingerprint")) } dd.mono id="key-fingerprint" { (fingerprint(k)) }
                        dt { (t(lang, "public_key")) } dd.mono { (k) }
                    }
                }
                Err(s) if s.code() == Code::FailedPrecondition => { p { (t(lang, "no_signing_key")) } }
                Err(s) => { (views::notice("error", s.message())) }
            }
        }
    };
    c.page_of(&ctx, &title, body)
}

/// The verifiable export (`aspflow audit verify-export` reads it), streamed as it is read.
pub(super) async fn export(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = match c.ctx(&headers, &format!("/cases/{id}/audit")) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lines = match c
        .audit
        .export_case(ctx.s.request(pb::ExportCaseRequest {
            case_id: id.clone(),
        }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return c.failure(&ctx, &s),
    };
    let stream = lines.map(|l| {
        l.map(|l| format!("{}\n", l.json))
            .map_err(|s| std::io::Error::other(s.message().to_owned()))
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.jsonl\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) async fn roster(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    axum::extract::Query(q): super::Pairs,
) -> Response {
    let ctx = match c.ctx(&headers, "/roster") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = ctx.lang;
    let asked = q
        .iter()
        .find(|(k, _)| k == "term")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    // Every recorded term, for the links to the others.
    let terms: Vec<String> = match c
        .cases
        .list_cases(ctx.s.request(pb::ListCasesRequest {
            procedure: "roster".into(),
            page_size: 500,
            ..Default::default()
        }))
        .await
    {
        Ok(r) => r
            .into_inner()
            .cases
            .iter()
            .filter_map(|s| s.reference.strip_prefix("FP-").map(str::to_owned))
            .collect(),
        Err(s) => return c.failure(&ctx, &s),
    };
    let roster = match c
        .roster
        .get_roster(ctx.s.request(pb::GetRosterRequest { term: asked }))
        .await
    {
        Ok(r) => Some(r.into_inner()),
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => return c.failure(&ctx, &s),
    };
    let region_words = |r: &str| {
        crate::domain::Region::ALL
            .into_iter()
            .find(|x| x.as_str() == r)
            .map_or(r.to_owned(), |x| x.label().to_owned())
    };
    let body = html! {
        h1 { (t(lang, "roster")) }
        @match &roster {
            None => { p { (t(lang, "no_roster")) } }
            Some(r) => {
                dl.facts {
                    dt { (t(lang, "term")) } dd { (r.term) }
                    dt { (t(lang, "president_region")) } dd { (region_words(&r.president_region)) }
                    dt { (t(lang, "fifth_requested")) } dd { (t(lang, if r.fifth_requested { "yes" } else { "no" })) }
                }
                table.roster {
                    caption { (t(lang, "focal_points_by_region")) }
                    thead { tr {
                        th scope="col" { (t(lang, "region")) }
                        th scope="col" { (t(lang, "member_state")) }
                        th scope="col" { (t(lang, "name")) }
                        th scope="col" { (t(lang, "acting_people")) }
                    } }
                    tbody { @for m in sorted(&r.members) { tr {
                        td { (region_words(&m.region)) } td { (m.state) } td { (m.name) } td { (m.subjects.join(", ")) }
                    } } }
                }
                @if let Some(rules) = &r.adopted_rules {
                    p { (t(lang, "rules_adopted")) " " (rules.term) ", " (rules.adopted_on) " (" (rules.decision_ref) ")." }
                }
            }
        }
        @if terms.len() > 1 {
            nav aria-label=(t(lang, "other_terms")) {
                h2 { (t(lang, "other_terms")) }
                ul { @for term in &terms {
                    li { a href=(format!("/roster?term={term}")) aria-current=[roster.as_ref().is_some_and(|r| r.term == *term).then_some("page")] { (term) } }
                } }
            }
        }
    };
    c.page_of(&ctx, t(lang, "roster"), body)
}

fn sorted(members: &[pb::FocalPoint]) -> Vec<&pb::FocalPoint> {
    let mut v: Vec<&pb::FocalPoint> = members.iter().collect();
    v.sort_by(|a, b| a.region.cmp(&b.region).then(a.state.cmp(&b.state)));
    v
}
