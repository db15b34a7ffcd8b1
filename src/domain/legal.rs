//! Legal citations and document references carried by events.
//!
//! A citation names an instrument and a provision (`Rome Statute`, `art. 87(7)`); the
//! constructors below are the ones the transitions cite by themselves. Commands may add more.

use serde::{Deserialize, Serialize};

use chrono::NaiveDate;

/// A legal basis: an instrument and a provision in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LegalCitation {
    /// e.g. "Rome Statute", "ICC-ASP/10/Res.5".
    pub instrument: String,
    /// e.g. "art. 87(7)", "annex".
    pub provision: String,
}

impl LegalCitation {
    /// A citation of `provision` in `instrument`.
    pub fn new(instrument: &str, provision: &str) -> Self {
        LegalCitation {
            instrument: instrument.to_owned(),
            provision: provision.to_owned(),
        }
    }

    /// Rome Statute, `provision` (e.g. "art. 87(7)").
    pub fn rome(provision: &str) -> Self {
        Self::new("Rome Statute", provision)
    }

    /// The Assembly procedures relating to non-cooperation (ICC-ASP/10/Res.5, annex, as amended).
    pub fn procedures() -> Self {
        Self::new("ICC-ASP/10/Res.5", "annex")
    }

    /// The procedures' para. 16 on focal points (as amended by ICC-ASP/11/Res.8 and ICC-ASP/17/Res.5).
    pub fn focal_points() -> Self {
        Self::new("ICC-ASP/10/Res.5", "annex, para. 16 (as amended)")
    }

    /// The procedures' para. 14(e): the Bureau reports to the Assembly.
    pub fn bureau_report() -> Self {
        Self::new("ICC-ASP/10/Res.5", "annex, para. 14(e)")
    }

    /// ICC-ASP/13/Res.5 op. 14: the President is ex officio focal point for own region.
    pub fn president_ex_officio() -> Self {
        Self::new("ICC-ASP/13/Res.5", "op. 14")
    }

    /// Text form, e.g. "Rome Statute art. 87(7)".
    pub fn display(&self) -> String {
        format!("{} {}", self.instrument, self.provision)
    }
}

/// A reference to a document that records an act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentRef {
    /// Symbol or reference, e.g. `ICC-02/05-01/09-195`, `ICC-ASP/17/31`, `PR933`.
    pub symbol: String,
    /// Date of the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Language (BCP 47, e.g. `en`, `fr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the document's bytes, lowercase hex, when the file itself was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
}

impl DocumentRef {
    /// A document known by its symbol only.
    pub fn symbol(symbol: &str) -> Self {
        DocumentRef {
            symbol: symbol.to_owned(),
            date: None,
            language: None,
            url: None,
            content_sha256: None,
        }
    }

    /// The same reference with a date.
    pub fn dated(mut self, date: NaiveDate) -> Self {
        self.date = Some(date);
        self
    }
}
