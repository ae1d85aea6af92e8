//! Conformance of the Merkle log against ../shared/fixtures/merkle (read in place, never
//! copied): the transparency-dev RFC 6962 inclusion and consistency probes (each expected to
//! verify or not, as its `wantErr` says), real Certificate Transparency proofs from Google's
//! Argon 2020 log, and the signed-note / checkpoint vectors of C2SP and Go's sumdb/note.
//! Skipped, with a message, when the fixtures are not beside the checkout.

use std::path::{Path, PathBuf};

use mamori_trails::merkle;
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    mamori_core::testkit::fixtures("merkle")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Raw bytes of each base64 hash, any length: the verifier must refuse wrong lengths itself.
fn hashes(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(hash).collect())
        .unwrap_or_default()
}

fn hash(v: &Value) -> Vec<u8> {
    base64_decode(v.as_str().unwrap_or(""))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn transparency_dev_inclusion_and_consistency_probes() {
    let Some(dir) = fixtures() else { return };
    let base = dir.join("transparency-dev-merkle/testdata");
    let (mut passed, mut failures) = (0, Vec::new());
    for p in json_files(&base.join("inclusion")) {
        let v = read(&p);
        let got = merkle::verify_inclusion(
            u(&v["leafIdx"]),
            u(&v["treeSize"]),
            &hash(&v["leafHash"]),
            &hashes(&v["proof"]),
            &hash(&v["root"]),
        );
        if got.is_err() == v["wantErr"].as_bool().unwrap() {
            passed += 1;
        } else {
            failures.push(format!("{}: {got:?}", p.display()));
        }
    }
    for p in json_files(&base.join("consistency")) {
        let v = read(&p);
        let got = merkle::verify_consistency(
            u(&v["size1"]),
            u(&v["size2"]),
            &hash(&v["root1"]),
            &hash(&v["root2"]),
            &hashes(&v["proof"]),
        );
        if got.is_err() == v["wantErr"].as_bool().unwrap() {
            passed += 1;
        } else {
            failures.push(format!("{}: {got:?}", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} probes disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, 196, "expected 98 inclusion + 98 consistency probes");
    eprintln!(
        "merkle: {passed}/196 transparency-dev inclusion + consistency probes agree with wantErr"
    );
}

#[test]
fn transparency_dev_subtree_probes() {
    let Some(dir) = fixtures() else { return };
    let base = dir.join("transparency-dev-merkle/testdata");
    let (mut passed, mut failures) = (0, Vec::new());
    for p in json_files(&base.join("subtreeinclusion")) {
        let v = read(&p);
        let got = merkle::verify_subtree_inclusion(
            u(&v["leafIdx"]),
            u(&v["start"]),
            u(&v["end"]),
            &hash(&v["leafHash"]),
            &hashes(&v["proof"]),
            &hash(&v["root"]),
        );
        if got.is_err() == v["wantErr"].as_bool().unwrap() {
            passed += 1;
        } else {
            failures.push(format!("{}: {got:?}", p.display()));
        }
    }
    for p in json_files(&base.join("subtreeconsistency")) {
        let v = read(&p);
        let got = merkle::verify_subtree_consistency(
            u(&v["start"]),
            u(&v["end"]),
            u(&v["size"]),
            &hash(&v["root1"]),
            &hash(&v["root2"]),
            &hashes(&v["proof"]),
        );
        if got.is_err() == v["wantErr"].as_bool().unwrap() {
            passed += 1;
        } else {
            failures.push(format!("{}: {got:?}", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} subtree probes disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        passed, 322,
        "expected 204 subtree inclusion + 118 subtree consistency probes"
    );
    eprintln!(
        "merkle: {passed}/322 transparency-dev subtree inclusion + consistency probes agree with wantErr"
    );
}

#[test]
fn rfc6962_reference_roots() {
    let Some(dir) = fixtures() else { return };
    let v = read(&dir.join("rfc6962-reference.json"));
    let leaves: Vec<Vec<u8>> = v["leaf_inputs"]
        .as_array()
        .expect("leaf_inputs")
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    let roots: Vec<String> = v["root_hashes"]["by_tree_size"]
        .as_array()
        .expect("root_hashes")
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    let hashes: Vec<_> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
    let mut compact = merkle::CompactTree::default();
    assert_eq!(hex::encode(compact.root().0), roots[0]);
    for (n, h) in hashes.iter().enumerate() {
        compact.push(*h);
        assert_eq!(
            hex::encode(merkle::root_of(&hashes[..=n]).0),
            roots[n + 1],
            "size {}",
            n + 1
        );
        assert_eq!(
            hex::encode(compact.root().0),
            roots[n + 1],
            "compact size {}",
            n + 1
        );
    }
    eprintln!(
        "merkle: RFC 6962 reference roots for sizes 0..={} match",
        hashes.len()
    );
}

#[test]
fn certificate_transparency_argon2020_proofs() {
    let Some(dir) = fixtures() else { return };
    let d = dir.join("golang-mod-ct-argon2020");
    let sth = read(&d.join("sth.json"));
    let size = u(&sth["tree_size"]);
    let root = hash(&sth["sha256_root_hash"]);
    let entries = read(&d.join("entries.json"));
    let leaf_input = base64_decode(entries["entries"][0]["leaf_input"].as_str().unwrap());
    let leaf = merkle::leaf_hash(&leaf_input);
    assert_eq!(
        merkle::b64(&leaf),
        "nCs3mfIydh9x4CKyQ+u2xtmpxmFggA5MLymHwNQSlLg="
    );
    let proof = read(&d.join("proof.json"));
    let path = hashes(&proof["audit_path"]);
    let index = u(&proof["leaf_index"]);
    merkle::verify_inclusion(index, size, &leaf.0, &path, &root).unwrap();
    assert!(merkle::verify_inclusion(index + 1, size, &leaf.0, &path, &root).is_err());
    let cons = read(&d.join("consistency.json"));
    let old_root = base64_decode("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=");
    let cpath = hashes(&cons["consistency"]);
    merkle::verify_consistency(3_654_490, size, &old_root, &root, &cpath).unwrap();
    assert!(merkle::verify_consistency(3_654_491, size, &old_root, &root, &cpath).is_err());
    eprintln!(
        "merkle: Argon 2020 CT inclusion (index 10000 of {size}) and consistency proofs verify"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn signed_note_vectors() {
    let Some(dir) = fixtures() else { return };
    let v = read(&dir.join("signed-note/signed-note-vectors.json"));
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let Some(note) = case["note"].as_str() else {
            // A note that JSON cannot hold (invalid UTF-8): rebuilt as the case describes.
            let mut bytes = vec![0xFFu8];
            bytes.extend_from_slice(b"If you think cryptography is the answer to your problem,\n");
            let keys = case["verifier_keys"][0].as_str().unwrap();
            assert!(mamori_trails::merkle::verify_note(&bytes, keys).is_err());
            checked += 1;
            continue;
        };
        let keys: Vec<String> = case["verifier_keys"]
            .as_array()
            .map(|a| a.iter().map(|k| k.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let want = case["verifies"].as_bool().unwrap();
        let got = keys
            .iter()
            .any(|k| mamori_trails::merkle::verify_note(note.as_bytes(), k).is_ok());
        assert_eq!(got, want, "case {:?}", case["name"]);
        checked += 1;
    }
    for bad in v["bad_verifier_keys"]["must_reject"].as_array().unwrap() {
        assert!(
            signed_note::StandardVerifier::new(bad.as_str().unwrap()).is_err(),
            "{bad}"
        );
        checked += 1;
    }
    eprintln!("signed-note: {checked} vectors agree");
}
