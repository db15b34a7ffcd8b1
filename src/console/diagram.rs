//! A procedure's state diagram as inline SVG, drawn from its transition table (the same rows
//! `decide` and docs/procedures.md read), with the case's current state marked.
//!
//! Layout: states in rows by their distance from the opening state (breadth first), arrows
//! from each state to the states its rows lead to; arrows back up the page are drawn dashed,
//! and only from the current state.
//! The picture has a text equivalent next to it on the case page.

use std::collections::BTreeMap;

use maud::{Markup, PreEscaped, html};

use crate::domain::table::Transition;

const BOX_W: i32 = 190;
const BOX_H: i32 = 30;
const GAP_X: i32 = 16;
const GAP_Y: i32 = 36;
const MARGIN: i32 = 8;

/// The states of `table` by row (distance from the opening), and the edges between them.
pub fn layout(table: &[Transition]) -> (Vec<Vec<&'static str>>, Vec<(&'static str, &'static str)>) {
    let mut edges: Vec<(&'static str, &'static str)> = Vec::new();
    let mut starts: Vec<&'static str> = Vec::new();
    for t in table {
        for to in t.targets() {
            if t.from.contains(&"(none)") {
                if !starts.contains(&to) {
                    starts.push(to);
                }
                continue;
            }
            for from in t.from {
                if *from != to && !edges.contains(&(*from, to)) {
                    edges.push((from, to));
                }
            }
        }
    }
    let mut depth: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    let mut queue: std::collections::VecDeque<(&'static str, usize)> =
        starts.iter().map(|s| (*s, 0)).collect();
    while let Some((s, d)) = queue.pop_front() {
        if depth.contains_key(s) {
            continue;
        }
        depth.insert(s, d);
        order.push(s);
        for (from, to) in &edges {
            if *from == s && !depth.contains_key(to) {
                queue.push_back((to, d + 1));
            }
        }
    }
    // States no arrow reaches from the opening (should be none) go last.
    for (from, to) in &edges {
        for s in [from, to] {
            if !depth.contains_key(s) {
                let d = depth.values().max().map_or(0, |m| m + 1);
                depth.insert(s, d);
                order.push(s);
            }
        }
    }
    let rows = depth.values().max().map_or(0, |m| m + 1);
    let mut out: Vec<Vec<&'static str>> = vec![Vec::new(); rows];
    for s in order {
        out[depth[s]].push(s);
    }
    (out, edges)
}

/// `AwaitingViews` → "Awaiting views".
pub fn state_words(state: &str) -> String {
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The diagram, `current` marked; `title` names it for assistive technology.
pub fn svg(
    table: &[Transition],
    current: &str,
    title: &str,
    label: &dyn Fn(&str) -> String,
) -> Markup {
    let (rows, edges) = layout(table);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1) as i32;
    let width = MARGIN * 2 + widest * BOX_W + (widest - 1).max(0) * GAP_X;
    let height = MARGIN * 2 + rows.len() as i32 * (BOX_H + GAP_Y) - GAP_Y;
    let mut at: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    for (r, row) in rows.iter().enumerate() {
        let n = row.len() as i32;
        let row_w = n * BOX_W + (n - 1).max(0) * GAP_X;
        let x0 = (width - row_w) / 2;
        for (i, s) in row.iter().enumerate() {
            at.insert(
                s,
                (
                    x0 + i as i32 * (BOX_W + GAP_X),
                    MARGIN + r as i32 * (BOX_H + GAP_Y),
                ),
            );
        }
    }
    let mut lines = String::new();
    for (from, to) in &edges {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (at.get(from), at.get(to)) else {
            continue;
        };
        let down = ty > fy;
        // Arrows back up the page (suspensions, returns) only from the current state: from
        // every state they would hide the path.
        if !down && *from != current {
            continue;
        }
        let (x1, y1) = (fx + BOX_W / 2, if down { fy + BOX_H } else { fy });
        let (x2, y2) = (tx + BOX_W / 2, if down { ty } else { ty + BOX_H });
        let class = if *from == current {
            "edge next"
        } else {
            "edge"
        };
        if down {
            lines.push_str(&format!(
                r#"<line class="{class}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#arrow)"/>"#
            ));
        } else {
            let bend = (x1.max(x2) + BOX_W / 2 + 10).min(width - 2);
            lines.push_str(&format!(
                r#"<path class="{class} back" d="M{x1},{y1} C{bend},{y1} {bend},{y2} {x2},{y2}" marker-end="url(#arrow)"/>"#
            ));
        }
    }
    html! {
        svg.diagram xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="diagram-title"
            viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height) {
            title id="diagram-title" { (title) }
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"
                    markerHeight="7" orient="auto-start-reverse" {
                    path d="M0,0 L10,5 L0,10 z" class="arrowhead" {}
                }
            }
            (PreEscaped(lines))
            @for (s, (x, y)) in &at {
                g class=(if *s == current { "state current" } else { "state" }) {
                    rect x=(x) y=(y) width=(BOX_W) height=(BOX_H) rx="6" {}
                    text x=(x + BOX_W / 2) y=(y + BOX_H / 2 + 4) text-anchor="middle" {
                        (label(s))
                    }
                }
            }
        }
    }
}

/// The states one step from `current`.
pub fn next_states(table: &[Transition], current: &str) -> Vec<&'static str> {
    let (_, edges) = layout(table);
    edges
        .into_iter()
        .filter(|(f, _)| *f == current)
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{formal, preventive};

    #[test]
    fn every_state_is_drawn_once_and_the_current_one_is_marked() {
        for table in [formal::TRANSITIONS, preventive::TRANSITIONS] {
            let (rows, edges) = layout(table);
            let all: Vec<&str> = rows.iter().flatten().copied().collect();
            let mut unique = all.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(all.len(), unique.len());
            assert!(all.len() >= 8, "{all:?}");
            assert!(!edges.is_empty());
        }
        let (rows, _) = layout(formal::TRANSITIONS);
        assert_eq!(rows[0], vec!["Referred"]);
        let page = svg(formal::TRANSITIONS, "AwaitingViews", "t", &|s| {
            state_words(s)
        })
        .into_string();
        assert_eq!(page.matches("state current").count(), 1);
        assert!(page.contains("Awaiting views"));
        assert!(next_states(formal::TRANSITIONS, "AwaitingViews").contains(&"ViewsOnFile"));
    }
}
