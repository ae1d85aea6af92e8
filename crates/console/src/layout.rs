//! The page shell (header, navigation, account switcher, sign-out), the security headers every
//! console answer carries, and small helpers shared by the pages.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::Ctx;

/// Scripts and styles only from this origin, nothing inline, no frames, forms only to here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// Adds the console's security headers to every answer of its routes.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        // Not `no-referrer`: with it a browser sends `Origin: null` on form posts, and the
        // same-origin check of every POST needs the real origin. Nothing leaves for other sites.
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Where a page sits in the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Threats,
    Vulnerabilities,
    Events,
    Trails,
    Organization,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Overview, "/", "Overview"),
    (Nav::Threats, "/threats", "Threat detection"),
    (Nav::Vulnerabilities, "/vulnerabilities", "Vulnerabilities"),
    (Nav::Events, "/events", "Event history"),
    (Nav::Trails, "/trails", "Trails"),
    (Nav::Organization, "/organization", "Organization"),
];

/// A whole page for a signed-in caller.
pub fn page(ctx: &Ctx, nav: Nav, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mamori" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" title="守り, protection" { "mamori" }
                    nav {
                        @for (n, href, label) in NAV {
                            a href=(href) class=[(*n == nav).then_some("active")] { (label) }
                        }
                    }
                    div.who {
                        @if ctx.accounts.len() > 1 {
                            form.switch method="post" action="/account" {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                label { "Account "
                                    select name="account" data-autosubmit {
                                        @for (id, name) in &ctx.accounts {
                                            option value=(id) selected[*id == ctx.caller.account] { (id) " · " (name) }
                                        }
                                    }
                                }
                                noscript { button type="submit" { "Switch" } }
                            }
                        } @else {
                            span.account { "Account " (ctx.caller.account) }
                        }
                        span.role { (ctx.caller.key_name) " (" (format!("{:?}", ctx.caller.role).to_lowercase()) ")" }
                        form method="post" action="/signout" {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page for no one signed in (sign-in, errors before sign-in).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mamori" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
            }
            body.bare {
                main.narrow {
                    p.brand { "mamori" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// An error inside the signed-in console.
pub fn error(ctx: &Ctx, status: StatusCode, message: &str) -> Response {
    let mut r = page(
        ctx,
        Nav::Overview,
        "Something went wrong",
        html! { p.error { (message) } p { a href="/" { "Back to the overview" } } },
    );
    *r.status_mut() = status;
    r
}

/// A path with a query string, every value percent-encoded (empty values left out).
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in params {
        if !v.is_empty() {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("{path}?{}", q.finish())
    } else {
        path.to_string()
    }
}

/// A URL from stored data, as a link only when it is http(s); anything else (`javascript:`,
/// `data:`) is shown as text.
pub fn external_link(url: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        html! { a href=(url) rel="noopener noreferrer nofollow" target="_blank" { (url) } }
    } else {
        html! { code { (url) } }
    }
}

/// The CSS class of a severity label (GuardDuty bands or Inspector labels).
pub fn severity_class(label: &str) -> &'static str {
    match label.to_ascii_uppercase().as_str() {
        "CRITICAL" => "sev-critical",
        "HIGH" => "sev-high",
        "MEDIUM" => "sev-medium",
        "LOW" => "sev-low",
        "INFORMATIONAL" => "sev-info",
        _ => "sev-untriaged",
    }
}

/// A copy-to-clipboard button (works with JavaScript on; the text stays selectable without).
pub fn copy_button(text: &str) -> Markup {
    html! { button.copy type="button" data-copy=(text) hidden { "Copy" } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_links() {
        assert!(
            external_link("javascript:alert(1)")
                .into_string()
                .starts_with("<code>")
        );
        assert!(
            external_link(" JAVASCRIPT:alert(1)")
                .into_string()
                .starts_with("<code>")
        );
        assert!(
            external_link("data:text/html,x")
                .into_string()
                .starts_with("<code>")
        );
        let ok = external_link("https://example.com/?a=\"x\"").into_string();
        assert!(
            ok.contains("href=\"https://example.com/?a=&quot;x&quot;\""),
            "{ok}"
        );
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            href("/events", &[("k", "Username"), ("v", "a b&c<"), ("x", "")]),
            "/events?k=Username&v=a+b%26c%3C"
        );
        assert_eq!(href("/events", &[]), "/events");
    }
}
