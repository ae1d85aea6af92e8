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
