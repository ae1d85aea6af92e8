//! The verifiable log: per trail, an RFC 6962 / RFC 9162 Merkle tree over the delivered records
//! (leaf = a record's canonical JSON, [`crate::canonical`]), with C2SP signed checkpoints.
//!
//! The tree code is Cloudflare's `tlog_tiles` (a port of Go's `sumdb/tlog`, run in production
//! for static CT logs): it stores every completed subtree hash once ("stored hashes", about two
//! per leaf), so a root, an inclusion proof or a consistency proof reads at most `O(log n)`
//! hashes, and appending never rewrites anything. Here the stored hashes live in `trails.db`.
//!
//! Subtree proofs (the Merkle Tree Certificates draft: a subtree `[start, end)` proven inside a
//! larger tree) are verified by our own code below, as `tlog_tiles` does not have them; they are
//! what a witness or a landmark checkpoint needs, and they pass transparency-dev's 322 probes.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use tlog_tiles::{Checkpoint, HashReader};

pub use tlog_tiles::Hash;
pub use tlog_tiles::record_hash as leaf_hash;

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("proof does not verify: {0}")]
    Invalid(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("tree storage: {0}")]
    Storage(String),
}

/// Reads (and, while appending, buffers) the stored hashes of one trail's tree.
pub struct TreeHashes<'c> {
    conn: &'c Connection,
    trail: i64,
    pending: RefCell<HashMap<u64, Hash>>,
}

impl<'c> TreeHashes<'c> {
    pub fn new(conn: &'c Connection, trail: i64) -> Self {
        Self {
            conn,
            trail,
            pending: RefCell::new(HashMap::new()),
        }
    }

    /// Appends the leaf with hash `leaf` as record `n` (the current tree size) and writes its
    /// stored hashes. Call inside the transaction that also records the leaf.
    pub fn append(&self, n: u64, leaf: Hash) -> Result<(), ProofError> {
        let hashes = tlog_tiles::stored_hashes_for_record_hash(n, leaf, self).map_err(storage)?;
        let start = tlog_tiles::stored_hash_index(0, n);
        let mut st = self
            .conn
            .prepare_cached("INSERT INTO tlog_hashes (trail, idx, hash) VALUES (?1, ?2, ?3)")
            .map_err(storage)?;
        let mut pending = self.pending.borrow_mut();
        for (i, h) in hashes.into_iter().enumerate() {
            let idx = start + i as u64;
            st.execute(params![self.trail, idx as i64, &h.0[..]])
                .map_err(storage)?;
            pending.insert(idx, h);
        }
        Ok(())
    }

    /// The stored hash of leaf `index`.
    pub fn leaf(&self, index: u64) -> Result<Hash, ProofError> {
        let i = tlog_tiles::stored_hash_index(0, index);
        self.read_hashes(&[i])
            .map_err(storage)?
            .pop()
            .ok_or_else(|| ProofError::Storage(format!("no leaf {index}")))
    }

    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        tlog_tiles::tree_hash(size, self).map_err(storage)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        tlog_tiles::prove_record(size, index, self).map_err(storage)
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        tlog_tiles::prove_tree(new, old, self).map_err(storage)
    }
}

impl HashReader for TreeHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let pending = self.pending.borrow();
        let mut st = self
            .conn
            .prepare_cached("SELECT hash FROM tlog_hashes WHERE trail = ?1 AND idx = ?2")
            .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
        indexes
            .iter()
            .map(|&i| {
                if let Some(h) = pending.get(&i) {
                    return Ok(*h);
                }
                let bytes: Vec<u8> = st
                    .query_row(params![self.trail, i as i64], |r| r.get(0))
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| tlog_tiles::Error::MalformedHash)?;
                Ok(Hash(arr))
            })
            .collect()
    }
}

fn storage(e: impl std::fmt::Display) -> ProofError {
    ProofError::Storage(e.to_string())
}

/// Verifies that `leaf` is record `index` of the tree of `size` leaves with root `root`.
/// Hashes are raw bytes as they came (a wrong length is a failed proof, not a panic).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    let (leaf, root, proof) = (to_hash(leaf)?, to_hash(root)?, to_hashes(proof)?);
    guarded(|| tlog_tiles::check_record(&proof, size, root, index, leaf))
}

/// Verifies that the tree of `old` leaves (root `old_root`) is a prefix of the tree of `new`
/// leaves (root `new_root`). As in RFC 9162 implementations: a proof from the empty tree is
/// refused, and equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &[u8],
    new_root: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), ProofError> {
    if old == 0 {
        return Err(ProofError::Invalid(
            "a consistency proof from the empty tree is meaningless".into(),
        ));
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Invalid(
                "equal tree sizes need an empty proof and equal roots".into(),
            ))
        };
    }
    let (old_root, new_root, proof) = (to_hash(old_root)?, to_hash(new_root)?, to_hashes(proof)?);
    guarded(|| tlog_tiles::check_tree(&proof, new, new_root, old, old_root))
}

/// Verifies a subtree inclusion proof (the Merkle Tree Certificates draft, C2SP `tlog-proof`):
/// `leaf` is entry `index` of the subtree `[start, end)` whose hash is `root`. The subtree must
/// be one the draft allows: non-empty, and `start` a multiple of the smallest power of two that
/// is at least `end - start`.
pub fn verify_subtree_inclusion(
    index: u64,
    start: u64,
    end: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    check_subtree(start, end)?;
    if index < start || index >= end {
        return Err(ProofError::Invalid(format!(
            "entry {index} is outside the subtree [{start}, {end})"
        )));
    }
    let (leaf, proof) = (to_hash(leaf)?, to_hashes(proof)?);
    let got = root_from_inclusion(index - start, end - start, leaf, &proof)?;
    matches(&got, root)
}

/// Verifies a subtree consistency proof: the subtree `[start, end)` with hash `sub_root` is part
/// of the tree of `size` entries with root `root`. An empty subtree (`start == end`) needs an
/// empty proof and the empty-tree hash, whatever the tree.
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    sub_root: &[u8],
    root: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), ProofError> {
    if start == end && end <= size {
        return if proof.is_empty() && sub_root == tlog_tiles::EMPTY_HASH.0 {
            Ok(())
        } else {
            Err(ProofError::Invalid(
                "an empty subtree needs an empty proof and the empty-tree hash".into(),
            ))
        };
    }
    check_subtree(start, end)?;
    if size < end {
        return Err(ProofError::Invalid(format!(
            "the subtree [{start}, {end}) ends beyond the tree of {size}"
        )));
    }
    if start == 0 && end == size {
        return if proof.is_empty() && sub_root == root {
            Ok(())
        } else {
            Err(ProofError::Invalid(
                "a subtree that is the whole tree needs an empty proof and equal hashes".into(),
            ))
        };
    }
    if proof.is_empty() {
        return Err(ProofError::Invalid("empty proof".into()));
    }
    let (sub, proof) = (to_hash(sub_root)?, to_hashes(proof)?);
    // The subtree's node sits at `height`, index `start >> height`, in both trees.
    let height = u64::BITS - ((end - 1) ^ start).leading_zeros();
    if end == size {
        // The node is on the right border: only left siblings lead to the root.
        let mut r = sub;
        let mut idx = start >> height;
        let mut it = proof.iter();
        while idx > 0 {
            if idx & 1 == 1 {
                let p = it.next().ok_or_else(short)?;
                r = tlog_tiles::node_hash(*p, r);
            }
            idx >>= 1;
        }
        if it.next().is_some() {
            return Err(ProofError::Invalid("proof has extra hashes".into()));
        }
        return matches(&r, root);
    }
    // Climb from the last full node inside the subtree, computing the subtree's hash as the
    // tree of `end` entries has it (`old`) and as the tree of `size` entries has it (`new`).
    let low = (end - start).trailing_zeros();
    let fork = u64::BITS - ((end - 1) ^ (size - 1)).leading_zeros();
    let mut it = proof.iter();
    let seed = if (end - start).is_power_of_two() {
        sub
    } else {
        *it.next().ok_or_else(short)?
    };
    let (mut old, mut new) = (seed, seed);
    for level in low..height {
        if ((end - 1) >> level) & 1 == 1 {
            let p = it.next().ok_or_else(short)?;
            old = tlog_tiles::node_hash(*p, old);
            new = tlog_tiles::node_hash(*p, new);
        } else if level < fork {
            // A right sibling that exists only in the larger tree.
            let p = it.next().ok_or_else(short)?;
            new = tlog_tiles::node_hash(new, *p);
        }
    }
    matches(&old, &sub.0)?;
    // The rest is an inclusion proof of the grown node among the nodes at `height`.
    let rest: Vec<Hash> = it.copied().collect();
    let got = root_from_inclusion(start >> height, ((size - 1) >> height) + 1, new, &rest)?;
    matches(&got, root)
}

fn short() -> ProofError {
    ProofError::Invalid("proof is too short".into())
}

fn matches(got: &Hash, want: &[u8]) -> Result<(), ProofError> {
    if got.0.as_slice() == want {
        Ok(())
    } else {
        Err(ProofError::Invalid(format!(
            "computed hash {} does not match {}",
            b64(got),
            B64.encode(want)
        )))
    }
}

/// The draft's rule for a valid subtree `[start, end)`.
fn check_subtree(start: u64, end: u64) -> Result<(), ProofError> {
    let aligned = end
        .checked_sub(start)
        .filter(|w| *w > 0)
        .and_then(u64::checked_next_power_of_two)
        .is_some_and(|w| start.is_multiple_of(w));
    if aligned {
        Ok(())
    } else {
        Err(ProofError::Invalid(format!(
            "[{start}, {end}) is not a valid subtree: it must be non-empty and start at a multiple \
             of the smallest power of two covering it"
        )))
    }
}

/// RFC 9162 §2.1.3.2: the root a leaf and its inclusion path lead to; the path must be exactly
/// as long as the tree needs.
fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::Invalid(format!(
            "index {index} is beyond the tree of {size}"
        )));
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in proof {
        if s == 0 {
            return Err(ProofError::Invalid("proof has extra hashes".into()));
        }
        if f & 1 == 1 || f == s {
            r = tlog_tiles::node_hash(*p, r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = tlog_tiles::node_hash(r, *p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(short());
    }
    Ok(r)
}

fn to_hash(b: &[u8]) -> Result<Hash, ProofError> {
    let arr: [u8; 32] = b
        .try_into()
        .map_err(|_| ProofError::Invalid(format!("a hash has {} bytes, not 32", b.len())))?;
    Ok(Hash(arr))
}

fn to_hashes(p: &[Vec<u8>]) -> Result<Vec<Hash>, ProofError> {
    p.iter().map(|h| to_hash(h)).collect()
}

/// Runs a verifier on untrusted input: an error or a panic both mean "does not verify".
fn guarded(f: impl FnOnce() -> Result<(), tlog_tiles::Error>) -> Result<(), ProofError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ProofError::Invalid(e.to_string())),
        Err(_) => Err(ProofError::Invalid("malformed proof".into())),
    }
}

/// The root of a tree built from leaf hashes in memory (the validator rebuilds trees this way).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => tlog_tiles::EMPTY_HASH,
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            tlog_tiles::node_hash(root_of(&leaves[..k]), root_of(&leaves[k..]))
        }
    }
}

/// An incremental in-memory tree (compact range): O(log n) memory, for validating large logs.
#[derive(Default, Clone)]
pub struct CompactTree {
    /// Roots of perfect subtrees, largest first; sizes are the set bits of `size`.
    stack: Vec<Hash>,
    size: u64,
}

impl CompactTree {
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            let left = self.stack.pop().unwrap_or(tlog_tiles::EMPTY_HASH);
            h = tlog_tiles::node_hash(left, h);
            n >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(mut h) = it.next().copied() else {
            return tlog_tiles::EMPTY_HASH;
        };
        for left in it {
            h = tlog_tiles::node_hash(*left, h);
        }
        h
    }
}

/// Base64 of a hash, as checkpoints and proofs print it.
pub fn b64(h: &Hash) -> String {
    B64.encode(h.0)
}

pub fn parse_b64_hash(s: &str) -> Result<Hash, ProofError> {
    let bytes = B64
        .decode(s.trim())
        .map_err(|e| ProofError::Invalid(format!("hash {s:?} is not base64: {e}")))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ProofError::Invalid(format!("hash {s:?} is not 32 bytes")))?;
    Ok(Hash(arr))
}

/// A checkpoint body: `<origin>\n<size>\n<base64 root>\n`.
pub fn checkpoint_text(origin: &str, size: u64, root: Hash) -> Result<Vec<u8>, ProofError> {
    Ok(Checkpoint::new(origin, size, root, "")
        .map_err(|e| ProofError::Checkpoint(e.to_string()))?
        .to_bytes())
}

/// A signed checkpoint, verified with the log's note verifier key
/// (`<name>+<hex id>+<base64 key>`).
pub struct VerifiedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Verifies a C2SP signed note with one verifier key and returns its text.
pub fn verify_note(note: &[u8], verifier_key: &str) -> Result<Vec<u8>, ProofError> {
    let verifier = signed_note::StandardVerifier::new(verifier_key.trim())
        .map_err(|e| ProofError::Checkpoint(format!("public key {verifier_key:?}: {e}")))?;
    let parsed = signed_note::Note::from_bytes(note)
        .map_err(|e| ProofError::Checkpoint(format!("not a signed note: {e}")))?;
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    parsed
        .verify(&list)
        .map_err(|e| ProofError::Checkpoint(format!("signature does not verify: {e}")))?;
    Ok(parsed.text().to_vec())
}

pub fn verify_checkpoint(
    note: &[u8],
    verifier_key: &str,
) -> Result<VerifiedCheckpoint, ProofError> {
    let text = verify_note(note, verifier_key)?;
    let cp = Checkpoint::from_bytes(&text).map_err(|e| ProofError::Checkpoint(e.to_string()))?;
    Ok(VerifiedCheckpoint {
        origin: cp.origin().to_string(),
        size: cp.size(),
        root: *cp.hash(),
    })
}

/// What `mamori trail prove` prints: everything needed to check one record's inclusion
/// offline, with only the log's public key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionBundle {
    pub event_id: String,
    pub account_id: String,
    pub log_file: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The record's canonical JSON, exactly the bytes of the leaf.
    pub record: String,
    pub leaf_hash: String,
    pub proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) the proof is against.
    pub checkpoint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyBundle {
    pub old_size: u64,
    pub new_size: u64,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
    pub proof: Vec<String>,
}

fn parse_proof(p: &[String]) -> Result<Vec<Vec<u8>>, ProofError> {
    p.iter()
        .map(|s| Ok(parse_b64_hash(s)?.0.to_vec()))
        .collect()
}

impl InclusionBundle {
    /// Checks the checkpoint signature, that the record hashes to the leaf, and the proof.
    pub fn verify(&self, verifier_key: &str) -> Result<VerifiedCheckpoint, ProofError> {
        let cp = verify_checkpoint(self.checkpoint.as_bytes(), verifier_key)?;
        if cp.size != self.tree_size {
            return Err(ProofError::Invalid(format!(
                "bundle says tree size {} but its checkpoint is for {}",
                self.tree_size, cp.size
            )));
        }
        let leaf = leaf_hash(self.record.as_bytes());
        if b64(&leaf) != self.leaf_hash {
            return Err(ProofError::Invalid(
                "the record does not hash to the bundle's leaf hash".into(),
            ));
        }
        verify_inclusion(
            self.leaf_index,
            self.tree_size,
            &leaf.0,
            &parse_proof(&self.proof)?,
            &cp.root.0,
        )?;
        Ok(cp)
    }
}

impl ConsistencyBundle {
    pub fn verify(&self, verifier_key: &str) -> Result<(), ProofError> {
        let old = verify_checkpoint(self.old_checkpoint.as_bytes(), verifier_key)?;
        let new = verify_checkpoint(self.new_checkpoint.as_bytes(), verifier_key)?;
        if old.origin != new.origin {
            return Err(ProofError::Invalid(format!(
                "checkpoints of different logs: {} and {}",
                old.origin, new.origin
            )));
        }
        verify_consistency(
            old.size,
            new.size,
            &old.root.0,
            &new.root.0,
            &parse_proof(&self.proof)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u64) -> (Connection, Vec<Hash>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tlog_hashes (trail INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (trail, idx));",
        )
        .unwrap();
        let leaves: Vec<Hash> = (0..n)
            .map(|i| leaf_hash(format!("r{i}").as_bytes()))
            .collect();
        {
            let t = TreeHashes::new(&conn, 1);
            for (i, l) in leaves.iter().enumerate() {
                t.append(i as u64, *l).unwrap();
            }
        }
        (conn, leaves)
    }

    #[test]
    fn stored_tree_agrees_with_the_recursive_definition_and_proofs_verify() {
        let (conn, leaves) = tree(37);
        let t = TreeHashes::new(&conn, 1);
        let mut compact = CompactTree::default();
        for size in 1..=37u64 {
            compact.push(leaves[size as usize - 1]);
            let root = t.root(size).unwrap();
            assert_eq!(root, root_of(&leaves[..size as usize]), "size {size}");
            assert_eq!(root, compact.root(), "compact size {size}");
            for i in 0..size {
                let p: Vec<Vec<u8>> = t
                    .inclusion(i, size)
                    .unwrap()
                    .iter()
                    .map(|h| h.0.to_vec())
                    .collect();
                verify_inclusion(i, size, &leaves[i as usize].0, &p, &root.0).unwrap();
                let other = leaves[(i as usize + 1) % 37];
                assert!(verify_inclusion(i, size, &other.0, &p, &root.0).is_err());
            }
            for old in 1..=size {
                let p: Vec<Vec<u8>> = t
                    .consistency(old, size)
                    .unwrap()
                    .iter()
                    .map(|h| h.0.to_vec())
                    .collect();
                let old_root = t.root(old).unwrap();
                verify_consistency(old, size, &old_root.0, &root.0, &p).unwrap();
            }
        }
    }

    /// A subtree consistency proof built straight from the tree's definition: the hashes of the
    /// nodes the verifier cannot compute, listed as the draft lists them.
    fn subtree_proof(leaves: &[Hash], start: u64, end: u64) -> Vec<Vec<u8>> {
        let size = leaves.len() as u64;
        let node = |level: u32, i: u64| {
            let lo = (i << level) as usize;
            let hi = (((i + 1) << level).min(size)) as usize;
            root_of(&leaves[lo..hi])
        };
        let height = u64::BITS - ((end - 1) ^ start).leading_zeros();
        let mut out = Vec::new();
        if end == size {
            let mut level = height;
            let mut i = start >> height;
            while i > 0 {
                if i & 1 == 1 {
                    out.push(node(level, i - 1));
                }
                i >>= 1;
                level += 1;
            }
            return out.iter().map(|h| h.0.to_vec()).collect();
        }
        let low = (end - start).trailing_zeros();
        let fork = u64::BITS - ((end - 1) ^ (size - 1)).leading_zeros();
        if !(end - start).is_power_of_two() {
            out.push(node(low, (end - 1) >> low));
        }
        for level in low..height {
            let i = (end - 1) >> level;
            if i & 1 == 1 {
                out.push(node(level, i - 1));
            } else if level < fork {
                out.push(node(level, i + 1));
            }
        }
        // The inclusion path of node (height, start >> height) among the nodes at that height.
        let (mut level, mut i, mut n) = (height, start >> height, ((size - 1) >> height) + 1);
        let mut path = Vec::new();
        while n > 1 {
            let sibling = i ^ 1;
            if sibling < n {
                path.push(node(level, sibling));
            }
            i >>= 1;
            n = n.div_ceil(2);
            level += 1;
        }
        out.extend(path);
        out.iter().map(|h| h.0.to_vec()).collect()
    }

    #[test]
    fn subtree_proofs_verify_for_every_valid_subtree_and_fail_when_altered() {
        let (_conn, leaves) = tree(21);
        let mut checked = 0;
        for size in 1..=21u64 {
            let all = &leaves[..size as usize];
            let root = root_of(all);
            for start in 0..size {
                for end in start + 1..=size {
                    if check_subtree(start, end).is_err() {
                        continue;
                    }
                    let sub = root_of(&all[start as usize..end as usize]);
                    let proof = subtree_proof(all, start, end);
                    verify_subtree_consistency(start, end, size, &sub.0, &root.0, &proof)
                        .unwrap_or_else(|e| panic!("[{start}, {end}) in {size}: {e}"));
                    for k in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[k][0] ^= 1;
                        assert!(
                            verify_subtree_consistency(start, end, size, &sub.0, &root.0, &bad)
                                .is_err()
                        );
                    }
                    if !proof.is_empty() {
                        let cut = &proof[..proof.len() - 1];
                        assert!(
                            verify_subtree_consistency(start, end, size, &sub.0, &root.0, cut)
                                .is_err()
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 200, "only {checked} subtrees checked");
    }
}
