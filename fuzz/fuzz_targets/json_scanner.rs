//! Fuzzes the JSON scanner the import split and the hunt rely on: it must never panic, and what
//! it accepts serde_json must accept too (the scanner hands anything else to serde_json, so a
//! value it wrongly accepted would skip serde_json's checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_trail::scan::Scan;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut s = Scan::new(text);
    if s.value().and_then(|_| s.end()).is_ok() {
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
            "the scanner accepted what serde_json refuses: {text:?}"
        );
    }
    // Members of an object come back as their exact text.
    let mut s = Scan::new(text);
    let mut members = Vec::new();
    if s.object(|k, v| { members.push((k.into_owned(), v)); Ok(()) }).and_then(|_| s.end()).is_ok() {
        for (_, v) in &members {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok(), "member {v:?}");
        }
    }
    // Splitting never panics, whichever way it goes.
    let _ = mamori_trail::body::split_records(data);
});
