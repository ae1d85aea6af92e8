//! Fuzzes the ingest path every byte from outside goes through: decompression with a cap,
//! envelope / array / NDJSON splitting, and record validation. It must never panic, and a
//! record it accepts must keep its exact bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_trail::body;
use mamori_trail::history::codec;
use mamori_trail::ingest::Limits;

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = body::decompress_capped(data, 1 << 20) else { return };
    let Ok(raws) = body::split_records(&bytes) else { return };
    let limits = Limits { max_event_bytes: 256 * 1024, oldest_day: None };
    let mut batch = mamori_trail::PreparedBatch::new(&raws, &limits, 1);
    let store = batch.take_store_batch();
    for block in &store.blocks {
        let decoded = zstd::decode_all(&block.data[..]).expect("a block decompresses");
        for (slot, _) in block.members.iter().enumerate() {
            assert!(codec::block_slot(&decoded, slot).is_some(), "every slot keeps its record");
        }
    }
});
