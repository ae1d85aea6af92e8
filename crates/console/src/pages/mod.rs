//! One module per part of the console; each handler reads through a service's library API
//! with the signed-in [`crate::Ctx`]'s account and role.

pub mod events;
pub mod org;
pub mod overview;
pub mod signin;
pub mod threats;
pub mod trails;
pub mod vulns;

use maud::{Markup, html};

/// A hidden CSRF field for a state-changing form.
pub(crate) fn csrf(ctx: &crate::Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// The auto-refresh switch (shown by the script; without it, nothing to switch).
pub(crate) fn autorefresh() -> Markup {
    html! { label.autorefresh hidden { input type="checkbox" data-autorefresh; " refresh every 30 s" } }
}

/// Days from `days - 1` days ago to today, as YYYY-MM-DD.
pub(crate) fn last_days(days: i64) -> Vec<String> {
    let today = chrono::Utc::now().date_naive();
    (0..days)
        .rev()
        .map(|i| {
            (today - chrono::Duration::days(i))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

/// The answer to a form, above it: a notice or an error.
pub(crate) fn outcome(o: &Option<Result<String, String>>) -> Markup {
    html! {
        @match o {
            Some(Ok(m)) => p.notice role="status" { (m) },
            Some(Err(m)) => p.error role="alert" { (m) },
            None => {},
        }
    }
}

/// One suppression rule as a row: name, action, criteria (JSON), description or reason.
pub(crate) struct RuleRow {
    pub name: String,
    pub action: String,
    pub criteria: String,
    pub note: String,
}

/// A table of suppression rules; admins get a Delete button posting to `delete_action`.
pub(crate) fn rules_table(
    ctx: &crate::Ctx,
    rows: &[RuleRow],
    note_heading: &str,
    delete_action: &str,
    empty: &str,
) -> Markup {
    let admin = ctx.caller.can(mamori_core::Role::Admin);
    html! {
        @if rows.is_empty() {
            p.muted { (empty) }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Action" } th { "Criteria" } th { (note_heading) } @if admin { th {} } } }
                tbody {
                    @for r in rows {
                        tr {
                            td { (r.name) }
                            td { (r.action) }
                            td.mono { (r.criteria) }
                            td { (r.note) }
                            @if admin {
                                td {
                                    form method="post" action=(delete_action) data-confirm=(format!("Delete rule {}?", r.name)) {
                                        (csrf(ctx))
                                        input type="hidden" name="name" value=(r.name);
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
