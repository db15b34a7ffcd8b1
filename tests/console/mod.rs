//! Issue 10: the console in a real browser. Headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs) is driven over WebDriver against a real server
//! with verified bearer tokens: sign in, open the Jordan case, take the Bureau's, the letter's
//! and the views' steps with the historical dates, see a refusal next to its field, see a
//! second browser's act appear live, download and verify the export, keep a confidential act
//! from a focal point of another region, check every main page with axe-core, and read the
//! case page in French.
//!
//! Without Chromium the tests say so and pass, except in CI (`CI=true`), where they fail.
//! `UPDATE_SCREENSHOTS=1` writes the pages' screenshots to docs/screenshots/.

mod http;
mod webdriver;

use std::{sync::Arc, time::Duration};

use aspflow::{
    api::{
        ServeOptions,
        token::{self, Claims, KeySource, MintKey, Verifier},
    },
    domain::Role,
    pb::{self, roster_client::RosterClient},
};
use chrono::{TimeZone, Utc};
use serde_json::json;
use tonic::Request;
use webdriver::{Driver, Session};

use crate::{e2e::TestServer, util::TestStore};

const SECRET: &[u8] = b"a-console-test-secret-of-32-bytes-or-more";
const WAIT: Duration = Duration::from_secs(15);
const AXE: &str = include_str!("vendor/axe.min.js");

fn mint(sub: &str, role: Role) -> String {
    // Tokens expire on the real clock (the verifier reads it), not the test's.
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or_default();
    token::mint(
        &MintKey::Hs256(SECRET.to_vec()),
        None,
        &Claims {
            sub: sub.into(),
            name: None,
            role: None,
            roles: vec![role.as_str().to_owned()],
            exp: now + 3600,
            nbf: None,
            iat: Some(now),
            iss: None,
            aud: None,
        },
    )
    .unwrap()
}

/// A server in token mode whose clock reads 20 January 2018 (the Jordan case's time).
async fn start(s: &TestStore) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let verifier = Verifier::load(&KeySource::Hs256SecretFile(secret), None, None).unwrap();
    s.clock
        .set(Utc.with_ymd_and_hms(2018, 1, 20, 9, 0, 0).unwrap());
    let options = ServeOptions {
        scheduler_tick: None,
        signing_key: Some(Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))),
        verifier: Some(Arc::new(verifier)),
        ..ServeOptions::default()
    };
    let server = TestServer::start_opts(s.store.clone(), s.clock.clone(), options).await;
    (server, dir)
}

/// The browser, or `None` (with a note) where Chromium is not installed and this is not CI.
async fn driver() -> Option<Driver> {
    let installed = std::path::Path::new("/usr/bin/chromedriver").exists()
        || std::env::var_os("CHROMEDRIVER").is_some();
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromedriver is not installed (.ci/run installs chromium-driver)"
        );
        eprintln!("skipped: no /usr/bin/chromedriver (apt-get install chromium chromium-driver)");
        return None;
    }
    Some(Driver::start().await.unwrap())
}

/// The Bureau appoints focal points for the 2017-2020 term: `fp-ap` for Japan (Asia-Pacific,
/// Jordan's region) and `fp-af` for Sierra Leone (African).
async fn appoint(server: &TestServer) {
    let mut r = Request::new(pb::AppointFocalPointsRequest {
        request_id: "appoint".into(),
        act: crate::e2e::act(2017, 12, 4),
        term: "2017-2020".into(),
        president_region: "western_european_other".into(),
        members: [
            ("JP", "asia_pacific", "fp-ap"),
            ("SL", "african", "fp-af"),
            ("LT", "eastern_european", "fp-ee"),
            ("MX", "latin_american_caribbean", "fp-lac"),
        ]
        .into_iter()
        .map(|(state, region, who)| pb::FocalPoint {
            state: state.into(),
            name: state.into(),
            region: region.into(),
            subjects: vec![who.into()],
        })
        .collect(),
    });
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", mint("bureau-1", Role::Bureau))
            .parse()
            .unwrap(),
    );
    RosterClient::new(server.channel().await)
        .appoint_focal_points(r)
        .await
        .unwrap();
}

struct Browser {
    s: Session,
    base: String,
}

impl Browser {
    async fn new(driver: &Driver, server: &TestServer) -> Self {
        Browser {
            s: driver.session().await.unwrap(),
            base: format!("http://{}", server.addr),
        }
    }

    async fn over_tls(driver: &Driver, server: &TestServer) -> Self {
        Browser {
            s: driver.session().await.unwrap(),
            base: format!("https://localhost:{}", server.addr.port()),
        }
    }

    async fn go(&self, path: &str) {
        self.s.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// Signs in with a new token (the new session cookie replaces the old one).
    async fn sign_in(&self, sub: &str, role: Role) {
        self.go("/sign-in").await;
        let token = mint(sub, role);
        self.s
            .find("#f-token")
            .await
            .unwrap()
            .send_keys(&token)
            .await
            .unwrap();
        self.s
            .find("form.sign-in button[type=submit]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.s.wait_for("form.filters", WAIT).await.unwrap();
    }

    /// Sets a form field by name (inputs, selects, text areas; check boxes by value).
    async fn set(&self, name: &str, value: &str) {
        let done = self
            .s
            .execute(
                "var els = document.getElementsByName(arguments[0]);
                 if (!els.length) { return false; }
                 for (var i = 0; i < els.length; i++) {
                   var el = els[i];
                   if (el.type === 'checkbox') { el.checked = (el.value === arguments[1]) || el.checked; }
                   else { el.value = arguments[1]; }
                 }
                 return true;",
                vec![json!(name), json!(value)],
            )
            .await
            .unwrap();
        assert_eq!(done, json!(true), "no field named {name}");
    }

    async fn submit(&self) {
        self.s
            .find("form.act button[type=submit]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.s.find(css).await.unwrap().text().await.unwrap()
    }

    /// Runs axe-core on the page; every violation fails the test, with its rule and nodes.
    async fn accessible(&self, page: &str) {
        let found = self.s
            .execute_async(
                &format!(
                    "{AXE}\n;var done = arguments[arguments.length - 1];
                     axe.run(document, {{ resultTypes: ['violations'] }})
                       .then(function (r) {{ done(r.violations.map(function (v) {{
                         return v.id + ' (' + v.impact + '): ' + v.nodes.map(function (n) {{ return n.target.join(' '); }}).join(', ');
                       }})); }})
                       .catch(function (e) {{ done(['axe failed: ' + e]); }});"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found, json!([]), "accessibility violations on {page}");
    }

    async fn screenshot(&self, name: &str) {
        if std::env::var("UPDATE_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        // The top of the page, tall enough to show the page's main parts.
        self.s.set_window_size(1280, 1500).await.unwrap();
        self.s
            .execute("window.scrollTo(0, 0);", vec![])
            .await
            .unwrap();
        let png = self.s.screenshot_png().await.unwrap();
        self.s.set_window_size(1280, 900).await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Opens the formal Jordan case through the form, as the Court's liaison would.
    async fn open_jordan(&self) -> String {
        self.go("/cases/new/formal").await;
        for (name, value) in [
            ("act.occurred_at", "2017-12-12T12:00"),
            ("facts.requested_state.iso_code", "JO"),
            ("facts.requested_state.name", "Jordan"),
            ("facts.requested_state.status", "state_party"),
            ("facts.requested_state.region", "asia_pacific"),
            ("facts.person_sought.name", "Omar Hassan Ahmad Al Bashir"),
            ("facts.person_sought.case_number", "ICC-02/05-01/09"),
            (
                "facts.person_sought.warrant_dates",
                "2009-03-04\n2010-07-12",
            ),
            ("facts.situation.name", "Darfur, Sudan"),
            ("facts.situation.trigger_mechanism", "unsc_referral"),
            ("facts.situation.unsc_resolution", "S/RES/1593 (2005)"),
            ("facts.request.kind", "arrest_and_surrender"),
            ("facts.request.transmitted_on", "2009-03-06"),
            ("facts.request.outstanding", "true"),
            ("referral.legal_basis", "art_87_7"),
            ("referral.chamber", "Pre-Trial Chamber II"),
            ("referral.decision_symbol", "ICC-02/05-01/09-309"),
            ("referral.decision_date", "2017-12-11"),
            ("referral.transmitted_on", "2017-12-11"),
            ("referral.targets", "asp"),
            ("referral.targets", "unsc"),
        ] {
            self.set(name, value).await;
        }
        self.submit().await;
        if let Err(e) = self.s.wait_for("#case-status", WAIT).await {
            panic!("{e}\n{}", self.text("main").await);
        }
        let url = self.s.current_url().await.unwrap();
        url.split("/cases/")
            .nth(1)
            .and_then(|r| r.split(['?', '#']).next())
            .unwrap()
            .to_owned()
    }

    /// Takes one step through the command's form.
    async fn act(&self, case: &str, command: &str, at: &str, fields: &[(&str, &str)]) {
        self.go(&format!("/cases/{case}/act/{command}")).await;
        self.set("act.occurred_at", at).await;
        for (name, value) in fields {
            self.set(name, value).await;
        }
        self.submit().await;
    }

    /// [`Browser::act`], and back on the case page.
    async fn act_ok(&self, case: &str, command: &str, at: &str, fields: &[(&str, &str)]) {
        self.act(case, command, at, fields).await;
        if let Err(e) = self.s.wait_for("#case-status", WAIT).await {
            panic!("{command}: {e}\n{}", self.text("main").await);
        }
    }
}

/// The whole walk (on SQLite: the console is a client of the services, which the other
/// suites run on both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_runs_the_jordan_case_in_a_browser() {
    {
        let s = TestStore::sqlite().await;
        let Some(driver) = driver().await else { return };
        let (server, _dir) = start(&s).await;
        appoint(&server).await;
        let a = Browser::new(&driver, &server).await;

        // Signing in: a page that needs a session leads to the sign-in form first.
        a.go("/cases").await;
        a.s.wait_for("#f-token", WAIT).await.unwrap();
        a.accessible("sign-in").await;
        a.sign_in("court-1", Role::CourtLiaison).await;

        let case = a.open_jordan().await;
        assert!(a.text("h1").await.contains("Jordan"));
        assert!(a.text("dd.stage").await.contains("Referred"));

        // The Bureau takes the matter up, the President writes.
        a.sign_in("bureau-1", Role::Bureau).await;
        a.act_ok(
            &case,
            "seize_bureau",
            "2018-01-10T10:00",
            &[("cmd.meeting_no", "B/2018/1")],
        )
        .await;
        a.s.wait_for_text("dd.stage", "Bureau", WAIT).await.unwrap();
        a.sign_in("president-1", Role::President).await;
        a.go(&format!("/cases/{case}/act/send_open_letter")).await;
        a.accessible("act form").await;
        a.screenshot("act-form").await;
        a.act_ok(
            &case,
            "send_open_letter",
            "2018-01-12T12:00",
            &[
                ("cmd.letter_ref", "ASP/2018/L1"),
                ("cmd.signatory", "O-Gon Kwon"),
                ("cmd.addressee", "Minister for Foreign Affairs of Jordan"),
            ],
        )
        .await;
        a.s.wait_for_text("dd.stage", "views", WAIT).await.unwrap();
        let deadlines = a.text("table.deadlines").await;
        assert!(
            deadlines.contains("2018-01-26") && deadlines.contains("Europe/Amsterdam"),
            "{deadlines}"
        );
        assert!(deadlines.contains("6 days left"), "{deadlines}");
        let next = a.text("#case-status").await;
        assert!(next.contains("Who acts next"), "{next}");
        a.accessible("case page").await;
        a.screenshot("case").await;

        // A refusal, next to its field: views dated before the letter.
        a.sign_in("secretariat-1", Role::Secretariat).await;
        a.act(
            &case,
            "record_views",
            "2018-01-05T12:00",
            &[("cmd.document_ref", "JO/2018/V1")],
        )
        .await;
        let error = match a.s.wait_for("#f-act-occurred_at-error", WAIT).await {
            Ok(e) => e.text().await.unwrap(),
            Err(e) => panic!("{e}\n{}", a.text("main").await),
        };
        assert!(
            error.contains("on or after the letter of 2018-01-12"),
            "{error}"
        );
        // The page says it was refused first, and takes the reader to the refusal.
        assert!(a.s.title().await.unwrap().starts_with("Refused"));
        assert_eq!(
            a.s.execute("return document.activeElement.id;", vec![])
                .await
                .unwrap(),
            json!("error-summary")
        );
        assert_eq!(
            a.s.find("#f-act-occurred_at")
                .await
                .unwrap()
                .attr("aria-invalid")
                .await
                .unwrap()
                .as_deref(),
            Some("true")
        );
        a.accessible("refused form").await;
        a.screenshot("refusal").await;

        // A second browser watches the case page; the first records the views.
        let b = Browser::new(&driver, &server).await;
        b.sign_in("fp-af", Role::FocalPoint).await;
        b.go(&format!("/cases/{case}")).await;
        let before = b.s.find_all("#timeline > li").await.unwrap().len();
        a.act_ok(
            &case,
            "record_views",
            "2018-01-19T12:00",
            &[
                ("cmd.document_ref", "JO/2018/V1"),
                ("act.confidentiality", "confidential"),
                (
                    "act.note",
                    "Note verbale: immunity of a sitting head of State",
                ),
            ],
        )
        .await;
        a.s.wait_for_text("dd.stage", "Views on file", WAIT)
            .await
            .unwrap();
        // Live: the new event appears in the other browser without a reload.
        b.s.wait_for(&format!("#timeline > li:nth-child({})", before + 1), WAIT)
            .await
            .unwrap();
        // Confidential: the African focal point sees that an act happened, not what it said.
        let seen = b.text("#timeline").await;
        assert!(seen.contains("withheld"), "{seen}");
        assert!(!b.s.source().await.unwrap().contains("Note verbale"));
        // The Asia-Pacific focal point, who covers Jordan, sees it.
        b.sign_in("fp-ap", Role::FocalPoint).await;
        b.go(&format!("/cases/{case}")).await;
        assert!(b.text("#timeline").await.contains("Note verbale"));

        // Audit: the server's verification, and the export downloaded and verified here.
        a.go(&format!("/cases/{case}/audit")).await;
        assert!(a.text("#verify-result").await.contains("Intact"));
        assert!(!a.text("#key-fingerprint").await.is_empty());
        a.accessible("audit").await;
        a.screenshot("audit").await;
        let href =
            a.s.find("#export-link")
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
        let export =
            a.s.execute_async(
                "var done = arguments[1];
                 fetch(arguments[0], { credentials: 'same-origin' })
                   .then(function (r) { return r.text(); }).then(done)
                   .catch(function (e) { done('failed: ' + e); });",
                vec![json!(href)],
            )
            .await
            .unwrap();
        let export = export.as_str().unwrap().to_owned();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let report =
            aspflow::audit::export::verify_export(std::io::Cursor::new(export), Some(&key))
                .unwrap();
        assert!(report.is_intact(), "{report:?}");

        // The list, the roster, and the case page in French.
        a.go("/cases").await;
        assert!(a.text("table.cases").await.contains("NC-2017-0001"));
        a.accessible("cases").await;
        a.screenshot("cases").await;
        a.go("/roster").await;
        assert!(a.text("table.roster").await.contains("fp-ap"));
        a.accessible("roster").await;
        a.go(&format!("/cases/{case}")).await;
        a.s.find("a[href='/lang/fr']")
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        a.s.wait_for_text("h2#h-next", "Qui", WAIT).await.unwrap();
        assert_eq!(
            a.s.execute("return document.documentElement.lang;", vec![])
                .await
                .unwrap(),
            json!("fr")
        );
        a.accessible("case page (French)").await;

        a.s.quit().await.unwrap();
        b.s.quit().await.unwrap();
        server.stop().await;
    }
}

/// Under TLS the browser speaks HTTP/2 (the host in `:authority`, no `Host` header) and the
/// session cookie is `__Host-` prefixed and Secure: signing in and out (both POSTs, checked for
/// their origin and CSRF token) still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_works_over_tls() {
    let Some(driver) = driver().await else { return };
    let s = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let verifier = Verifier::load(&KeySource::Hs256SecretFile(secret), None, None).unwrap();
    let ca = crate::tls::Ca::new("console test CA");
    let leaf = ca.server();
    let tls =
        aspflow::api::tls::server_config(leaf.cert.as_bytes(), leaf.key.as_bytes(), None).unwrap();
    let options = ServeOptions {
        scheduler_tick: None,
        verifier: Some(Arc::new(verifier)),
        tls: Some(tls),
        ..ServeOptions::default()
    };
    let server = TestServer::start_opts(s.store.clone(), s.clock.clone(), options).await;
    let b = Browser::over_tls(&driver, &server).await;
    b.sign_in("secretariat-1", Role::Secretariat).await;
    assert!(b.text("header.top").await.contains("secretariat-1"));
    b.s.find("form[action='/sign-out'] button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.s.wait_for("#f-token", WAIT).await.unwrap();
    b.go("/cases").await;
    b.s.wait_for("#f-token", WAIT).await.unwrap();
    b.s.quit().await.unwrap();
    server.stop().await;
}
