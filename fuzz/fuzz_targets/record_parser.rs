//! Fuzzes the ingest path every byte from outside goes through: decompression with a cap,
//! envelope / array / NDJSON splitting, and record validation. It must never panic, and a
//! record it accepts must keep its exact bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_trail::body;
use mamori_trail::ingest::{Limits, prepare};

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = body::decompress_capped(data, 1 << 20) else { return };
    let Ok(raws) = body::split_records(&bytes) else { return };
    let limits = Limits { max_event_bytes: 256 * 1024, oldest_day: None };
    let Ok(mut z) = zstd::bulk::Compressor::new(1) else { return };
    for raw in raws {
        if let Ok(p) = prepare(raw, &limits, &mut z) {
            let back = zstd::decode_all(&p.blob[..]).expect("stored record decompresses");
            assert_eq!(back, raw.get().as_bytes());
        }
    }
});
