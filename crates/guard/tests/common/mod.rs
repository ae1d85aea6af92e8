//! What the audit-event detectors give for a record, the same whichever way it was read: typed
//! (the server), as a JSON value (with Sigma), the hunt's partial borrowed parse, and the record
//! as read for Sigma rules. Shared by the detector suites.

use mamori_guard::cloudtrail::{Context, detect};
use mamori_guard::view::{Lite, View};
use mamori_trail::model::Record;
use serde_json::Value;

/// (type, severity) of each signal, sorted by type; asserts the four readings agree.
pub fn four_ways(v: &Value, ctx: &Context<'_>) -> Vec<(String, f64)> {
    let record: Record = serde_json::from_value(v.clone()).unwrap();
    let text = v.to_string();
    let lite = Lite::parse(&text).unwrap();
    let run = |view: &View<'_>| -> Vec<(String, f64)> {
        let mut k: Vec<(String, f64)> = detect(view, ctx)
            .into_iter()
            .map(|s| (s.kind, s.severity))
            .collect();
        k.sort_by(|a, b| a.0.cmp(&b.0));
        k
    };
    let typed = run(&View::from_record(&record));
    assert_eq!(typed, run(&View::from_value(v)), "from a JSON value: {v}");
    assert_eq!(typed, run(&lite.view()), "from the partial parse: {v}");
    let lazy = mamori_guard::lazy::LazyEvent::parse(&text).unwrap();
    assert_eq!(
        typed,
        run(&Lite::from_lazy(&lazy).unwrap().view()),
        "from the record read for Sigma: {v}"
    );
    typed
}
