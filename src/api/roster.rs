//! `aspflow.v1.Roster`: the focal points of each Bureau term.

use tonic::{Request, Response, Status};

use super::{auth, convert, status::Invalid};
use crate::{
    domain::{case::CaseState, roster},
    engine::{AsOf, Engine, EngineError, LoadedCase},
    pb::{self, roster_server::Roster},
    store::EventStore,
};

/// The service.
#[derive(Clone)]
pub struct RosterService {
    engine: Engine,
    auth: auth::Auth,
}

impl RosterService {
    /// A service over `engine`, its callers checked by `auth`.
    pub fn new(engine: Engine, auth: auth::Auth) -> Self {
        RosterService { engine, auth }
    }
}

fn member(field: &str, m: Option<&pb::FocalPoint>) -> Result<roster::Member, Invalid> {
    let m = m.ok_or_else(|| Invalid::new(field, "a focal point (state, name, region)"))?;
    Ok(roster::Member {
        state: convert::text(&format!("{field}.state"), &m.state)?.to_uppercase(),
        name: convert::text(&format!("{field}.name"), &m.name)?,
        region: convert::region(&format!("{field}.region"), &m.region)?,
        subjects: m
            .subjects
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

fn rules_view(
    rules: &crate::domain::ProcedureRules,
    adopted: Option<(&str, &roster::AdoptedRules)>,
) -> pb::RulesInForce {
    pb::RulesInForce {
        rules: Some(convert::rules_to_pb(rules)),
        version: rules.version,
        term: adopted.map(|(t, _)| t.to_owned()).unwrap_or_default(),
        decision_ref: adopted
            .map(|(_, a)| a.decision_ref.clone())
            .unwrap_or_default(),
        adopted_on: adopted
            .map(|(_, a)| a.adopted_on.to_string())
            .unwrap_or_default(),
    }
}

fn view(l: &LoadedCase) -> pb::RosterView {
    match &*l.state {
        CaseState::Roster(roster::State::Open(t)) => pb::RosterView {
            roster_id: l.id.to_string(),
            term: t.term.clone(),
            president_region: t.president_region.as_str().to_owned(),
            fifth_requested: t.fifth_requested,
            members: t
                .members
                .iter()
                .map(|m| pb::FocalPoint {
                    state: m.state.clone(),
                    name: m.name.clone(),
                    region: m.region.as_str().to_owned(),
                    subjects: m.subjects.clone(),
                })
                .collect(),
            version: l.version,
            adopted_rules: t
                .rules
                .as_ref()
                .map(|a| rules_view(&a.rules, Some((t.term.as_str(), a)))),
        },
        _ => pb::RosterView::default(),
    }
}

fn term(v: &str) -> Result<String, Status> {
    Ok(convert::text("term", v)?)
}

impl RosterService {
    async fn request_fifth_focal_point_inner(
        &self,
        req: Request<pb::RequestFifthFocalPointRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let p = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/RequestFifthFocalPoint")
            .await?;
        super::limits::check("RequestFifthFocalPointRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        let act = convert::act(r.act.as_ref())?;
        let t = term(&r.term)?;
        let president_region = convert::region("president_region", &r.president_region)?;
        let o = self
            .engine
            .roster(&p, &rid, &t, act, |id| {
                roster::Action::RequestFifthFocalPoint {
                    roster_id: id,
                    term: t.clone(),
                    president_region,
                }
            })
            .await?;
        Ok(Response::new(view(&o.case)))
    }

    async fn appoint_focal_points_inner(
        &self,
        req: Request<pb::AppointFocalPointsRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let p = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/AppointFocalPoints")
            .await?;
        super::limits::check("AppointFocalPointsRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        let act = convert::act(r.act.as_ref())?;
        let t = term(&r.term)?;
        let president_region = convert::region("president_region", &r.president_region)?;
        let mut members = Vec::new();
        for (i, m) in r.members.iter().enumerate() {
            members.push(member(&format!("members[{i}]"), Some(m))?);
        }
        let o = self
            .engine
            .roster(&p, &rid, &t, act, |id| roster::Action::AppointFocalPoints {
                roster_id: id,
                term: t.clone(),
                president_region,
                members: members.clone(),
            })
            .await?;
        Ok(Response::new(view(&o.case)))
    }

    async fn replace_focal_point_inner(
        &self,
        req: Request<pb::ReplaceFocalPointRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let p = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/ReplaceFocalPoint")
            .await?;
        super::limits::check("ReplaceFocalPointRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        let act = convert::act(r.act.as_ref())?;
        let t = term(&r.term)?;
        let replaced = convert::text("replaced", &r.replaced)?.to_uppercase();
        let replacement = member("replacement", r.replacement.as_ref())?;
        if self
            .engine
            .store()
            .find_by_reference(&format!("FP-{t}"))
            .await
            .map_err(EngineError::from)?
            .is_none()
        {
            return Err(EngineError::NotFound(format!("roster of term {t}")).into());
        }
        let o = self
            .engine
            .roster(&p, &rid, &t, act, |_| roster::Action::ReplaceFocalPoint {
                replaced: replaced.clone(),
                replacement: replacement.clone(),
            })
            .await?;
        Ok(Response::new(view(&o.case)))
    }
}

impl RosterService {
    async fn adopt_procedure_rules_inner(
        &self,
        req: Request<pb::AdoptProcedureRulesRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let p = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/AdoptProcedureRules")
            .await?;
        super::limits::check("AdoptProcedureRulesRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        let act = convert::act(r.act.as_ref())?;
        let t = term(&r.term)?;
        let decision_ref = convert::text("decision_ref", &r.decision_ref)?;
        // The region is needed only to open the term's roster; a known term keeps its own.
        let existing = self
            .engine
            .store()
            .find_by_reference(&format!("FP-{t}"))
            .await
            .map_err(EngineError::from)?;
        let president_region = match (existing, r.president_region.trim()) {
            (Some(_), "") => crate::domain::Region::African,
            _ => convert::region("president_region", &r.president_region)?,
        };
        // A partial message (set_fields) changes the rules in force; a whole one is read over
        // the built-in defaults.
        let base = if r.rules.as_ref().is_some_and(|x| !x.set_fields.is_empty()) {
            self.engine
                .rules_in_force(self.engine.clock().now())
                .await?
                .rules
        } else {
            self.engine.default_rules().clone()
        };
        let rules = convert::rules(r.rules.as_ref(), &base)?
            .ok_or_else(|| Invalid::new("rules", "the rules to adopt"))?;
        let o = self
            .engine
            .roster(&p, &rid, &t, act, |id| {
                roster::Action::AdoptProcedureRules {
                    roster_id: id,
                    term: t.clone(),
                    president_region,
                    rules: rules.clone(),
                    decision_ref: decision_ref.clone(),
                    version_in_force: 0,
                }
            })
            .await?;
        Ok(Response::new(view(&o.case)))
    }
}

#[tonic::async_trait]
impl Roster for RosterService {
    async fn adopt_procedure_rules(
        &self,
        req: Request<pb::AdoptProcedureRulesRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let started = std::time::Instant::now();
        let result = self.adopt_procedure_rules_inner(req).await;
        crate::metrics::command(
            "AdoptProcedureRules",
            "roster",
            "adopt_procedure_rules",
            started.elapsed(),
            &result,
        );
        result
    }

    async fn get_rules_in_force(
        &self,
        req: Request<pb::GetRulesInForceRequest>,
    ) -> Result<Response<pb::RulesInForce>, Status> {
        let _caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/GetRulesInForce")
            .await?;
        let f = self
            .engine
            .rules_in_force(self.engine.clock().now())
            .await?;
        Ok(Response::new(rules_view(
            &f.rules,
            f.adopted.as_ref().map(|(t, a)| (t.as_str(), a)),
        )))
    }

    async fn request_fifth_focal_point(
        &self,
        req: Request<pb::RequestFifthFocalPointRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let started = std::time::Instant::now();
        let result = self.request_fifth_focal_point_inner(req).await;
        crate::metrics::command(
            "RequestFifthFocalPoint",
            "roster",
            "request_fifth_focal_point",
            started.elapsed(),
            &result,
        );
        result
    }

    async fn appoint_focal_points(
        &self,
        req: Request<pb::AppointFocalPointsRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let started = std::time::Instant::now();
        let result = self.appoint_focal_points_inner(req).await;
        crate::metrics::command(
            "AppointFocalPoints",
            "roster",
            "appoint_focal_points",
            started.elapsed(),
            &result,
        );
        result
    }

    async fn replace_focal_point(
        &self,
        req: Request<pb::ReplaceFocalPointRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let started = std::time::Instant::now();
        let result = self.replace_focal_point_inner(req).await;
        crate::metrics::command(
            "ReplaceFocalPoint",
            "roster",
            "replace_focal_point",
            started.elapsed(),
            &result,
        );
        result
    }

    async fn get_roster(
        &self,
        req: Request<pb::GetRosterRequest>,
    ) -> Result<Response<pb::RosterView>, Status> {
        let _caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Roster/GetRoster")
            .await?;
        super::limits::check("GetRosterRequest", req.get_ref())?;
        // No term: the one current now (whose roster gives focal points their regions).
        let id = if req.get_ref().term.trim().is_empty() {
            let now = self.engine.clock().now();
            self.engine
                .current_roster_id(now)
                .await?
                .ok_or_else(|| EngineError::NotFound("roster: no Bureau term recorded".into()))?
        } else {
            let t = term(&req.get_ref().term)?;
            let id = self
                .engine
                .store()
                .find_by_reference(&format!("FP-{t}"))
                .await
                .map_err(EngineError::from)?
                .ok_or_else(|| EngineError::NotFound(format!("roster of term {t}")))?;
            crate::domain::CaseId(id.0)
        };
        let l = self.engine.load(id, AsOf::Latest).await?;
        Ok(Response::new(view(&l)))
    }
}
