//! Every sentence the console shows, in one catalogue: English, complete, and French (the
//! Assembly's two working languages). A key missing in French falls back to English; a lib
//! test checks that every key the pages use is in English, and that the case page is French
//! throughout.
//!
//! The language is the `aspflow_lang` cookie (set by the switch in the page header), else the
//! browser's `Accept-Language`, else English.

use axum::http::{HeaderMap, header};

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

/// The language cookie's name.
pub const COOKIE: &str = "aspflow_lang";

impl Lang {
    /// The request's language.
    pub fn of(headers: &HeaderMap) -> Lang {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.trim().to_owned());
        if let Some(l) = cookie.as_deref().and_then(Lang::parse) {
            return l;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The first language of the list that the console has.
        accept
            .split(',')
            .filter_map(|part| part.split(';').next())
            .find_map(|tag| Lang::parse(tag.trim().split('-').next().unwrap_or_default()))
            .unwrap_or(Lang::En)
    }

    /// `en` or `fr`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The BCP 47 tag.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// The words for `key` in `lang`, if the catalogue has them (French falls back to English).
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    let find = |table: &[(&'static str, &'static str)]| {
        table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    };
    match lang {
        Lang::En => find(EN),
        Lang::Fr => find(FR).or_else(|| find(EN)),
    }
}

/// The words for `key`; the key itself when the catalogue lacks it (a test keeps that from
/// happening).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    lookup(lang, key).unwrap_or(key)
}

include!("catalogue.rs");

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t(lang, "...")` key in the console's sources is in English.
    #[test]
    fn every_key_used_is_in_the_catalogue() {
        let sources = [
            include_str!("pages.rs"),
            include_str!("acts.rs"),
            include_str!("records.rs"),
            include_str!("form.rs"),
            include_str!("mod.rs"),
            include_str!("views.rs"),
        ];
        let mut missing = Vec::new();
        for src in sources {
            let calls = src
                .split("t(lang, \"")
                .skip(1)
                .chain(src.split("t(ctx.lang, \"").skip(1));
            for part in calls {
                let key = part.split('"').next().unwrap_or_default();
                if lookup(Lang::En, key).is_none() {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
    }

    #[test]
    fn keys_are_unique_and_french_has_only_known_keys() {
        for table in [EN, FR] {
            let mut keys: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(n, keys.len(), "a key is listed twice");
        }
        for (k, _) in FR {
            assert!(lookup(Lang::En, k).is_some(), "{k} is French only");
        }
    }

    /// The case page is French throughout: every key it uses has French words.
    #[test]
    fn the_case_page_is_french_throughout() {
        let src = include_str!("views.rs");
        let page = src
            .split("// --- case page ---")
            .nth(1)
            .and_then(|s| s.split("// --- end of case page ---").next())
            .unwrap_or_default();
        assert!(!page.is_empty());
        let mut missing = Vec::new();
        for part in page.split("t(lang, \"").skip(1) {
            let key = part.split('"').next().unwrap_or_default();
            if !FR.iter().any(|(k, _)| *k == key) {
                missing.push(key.to_owned());
            }
        }
        assert!(missing.is_empty(), "no French for: {missing:?}");
    }

    #[test]
    fn the_language_comes_from_the_cookie_then_the_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "fr-CH, fr;q=0.9, en;q=0.8"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(
            header::COOKIE,
            "aspflow_lang=en".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(Lang::of(&h), Lang::En);
    }
}
