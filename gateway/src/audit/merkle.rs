//! RFC 6962 / RFC 9162 Merkle tree hashing: leaf and node hashes, proof generation from a
//! source of complete-subtree hashes, and proof verification.
//!
//! Everything here is pure: proof generation reads hashes through a caller-supplied closure
//! (storage passes one that reads its per-level hash files), so the path arithmetic is tested
//! in tables without I/O.

use ring::digest::{Context, SHA256};

/// A SHA-256 hash: leaf hash, interior node hash or tree root.
pub type Hash = [u8; 32];

/// Length of a [`Hash`] in bytes.
pub const HASH_LEN: usize = 32;

/// Why a proof did not verify. The proof comes from the log being checked, so every variant
/// is the log's (or the transport's) fault, never the verifier's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Index, sizes or proof length do not fit together.
    #[error("proof does not fit the tree sizes: {0}")]
    Shape(&'static str),
    /// A hash had the wrong length.
    #[error("a hash in the proof is not 32 bytes")]
    BadHashLength,
    /// The recomputed root differs from the expected one.
    #[error("recomputed root does not match")]
    RootMismatch,
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    sha256(&[&buf])
}

/// Largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Merkle tree hash of the leaves `[start, end)`, which must be a node of an RFC 6962 tree
/// (its start aligned to the next power of two at or above its length). `complete(level, i)`
/// returns the stored hash of the complete subtree covering leaves `[i << level, (i+1) << level)`.
/// Reads at most one stored hash per level, so the cost is O(log n).
pub fn subtree_root<E>(
    start: u64,
    end: u64,
    complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let len = end - start;
    if len == 0 {
        return Ok(empty_root());
    }
    if len.is_power_of_two() && start & (len - 1) == 0 {
        let level = len.trailing_zeros();
        return complete(level, start >> level);
    }
    let k = split_point(len);
    let left = subtree_root(start, start + k, complete)?;
    let right = subtree_root(start + k, end, complete)?;
    Ok(node_hash(&left, &right))
}

/// Inclusion proof (RFC 6962 PATH) for leaf `index` in the tree of the first `size` leaves.
/// Returns the audit path from the leaf's sibling up to the root's child.
pub fn inclusion_proof<E>(
    index: u64,
    size: u64,
    complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    debug_assert!(index < size);
    let mut out = Vec::with_capacity(64);
    path(index, 0, size, complete, &mut out)?;
    Ok(out)
}

fn path<E>(
    m: u64,
    start: u64,
    end: u64,
    complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(m, start, start + k, complete, out)?;
        out.push(subtree_root(start + k, end, complete)?);
    } else {
        path(m - k, start + k, end, complete, out)?;
        out.push(subtree_root(start, start + k, complete)?);
    }
    Ok(())
}

/// Consistency proof (RFC 6962 PROOF) between the trees of sizes `old` and `new`,
/// `0 < old <= new`. Empty when `old == new`.
pub fn consistency_proof<E>(
    old: u64,
    new: u64,
    complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    debug_assert!(0 < old && old <= new);
    let mut out = Vec::with_capacity(64);
    if old < new {
        subproof(old, 0, new, true, complete, &mut out)?;
    }
    Ok(out)
}

fn subproof<E>(
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree_root(start, end, complete)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, start, start + k, whole, complete, out)?;
        out.push(subtree_root(start + k, end, complete)?);
    } else {
        subproof(m - k, start + k, end, false, complete, out)?;
        out.push(subtree_root(start, start + k, complete)?);
    }
    Ok(())
}

fn as_hash(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes.try_into().map_err(|_| ProofError::BadHashLength)
}

/// Verifies an inclusion proof (RFC 9162 section 2.1.3.2). Roots and the leaf hash are taken
/// as byte slices so that malformed input (wrong length) is an error, not a panic.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Hash],
    root: &[u8],
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if computed.as_slice() != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Recomputes the root implied by an inclusion proof, without comparing it to anything.
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::Shape("index is not below the tree size"));
    }
    let mut r = as_hash(leaf)?;
    let (mut fnode, mut snode) = (index, size - 1);
    for p in proof {
        if snode == 0 {
            return Err(ProofError::Shape("proof is longer than the path"));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::Shape("proof is shorter than the path"));
    }
    Ok(r)
}

/// Verifies a consistency proof (RFC 9162 section 2.1.4.2) between `old` with `old_root` and
/// `new` with `new_root`. A proof from size 0 is refused: it proves nothing.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &[u8],
    new_root: &[u8],
) -> Result<(), ProofError> {
    if old == 0 {
        return Err(ProofError::Shape(
            "a consistency proof from size 0 proves nothing",
        ));
    }
    if old > new {
        return Err(ProofError::Shape("old size is larger than new size"));
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::Shape("equal sizes need an empty proof"));
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::Shape("empty proof for different sizes"));
    }
    let old_hash = as_hash(old_root)?;
    let mut items: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        items.push(old_hash);
    }
    items.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (items[0], items[0]);
    for c in &items[1..] {
        if snode == 0 {
            return Err(ProofError::Shape("proof is longer than the path"));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::Shape("proof is shorter than the path"));
    }
    if fr != old_hash || sr.as_slice() != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first.
/// Pushing a leaf returns every complete subtree it finished, so storage can persist them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// (level, hash) of each perfect subtree on the right edge, left to right.
    stack: Vec<(u32, Hash)>,
}

/// A complete subtree finished by a push: leaves `[index << level, (index+1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedNode {
    /// Height of the subtree (0 = a leaf).
    pub level: u32,
    /// Position of the subtree among those of the same level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the right edge of a tree of `size` leaves from stored complete subtrees.
    pub fn from_stored<E>(
        size: u64,
        complete: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
    ) -> Result<Self, E> {
        let mut stack = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                stack.push((level, complete(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(Self { size, stack })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash, calling `on_complete` for the leaf itself and every subtree it
    /// completes, lowest level first.
    pub fn push(&mut self, leaf: Hash, mut on_complete: impl FnMut(CompletedNode)) {
        let mut node = (0u32, leaf);
        let mut index = self.size;
        on_complete(CompletedNode {
            level: 0,
            index,
            hash: leaf,
        });
        while let Some(&(level, left)) = self.stack.last() {
            if level != node.0 {
                break;
            }
            self.stack.pop();
            node = (level + 1, node_hash(&left, &node.1));
            index >>= 1;
            on_complete(CompletedNode {
                level: node.0,
                index,
                hash: node.1,
            });
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// The root hash of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn store(leaves: &[Hash]) -> impl FnMut(u32, u64) -> Result<Hash, ()> + '_ {
        move |level, index| {
            let s = (index << level) as usize;
            Ok(naive_root(&leaves[s..s + (1usize << level)]))
        }
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
        ] {
            assert_eq!(split_point(n), k, "n={n}");
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn compact_range_root_matches_naive_root_and_emits_every_complete_node() {
        for n in 0..70u64 {
            let l = leaves(n);
            let mut cr = CompactRange::new();
            let mut emitted = Vec::new();
            for h in &l {
                cr.push(*h, |c| emitted.push(c));
            }
            assert_eq!(cr.root(), naive_root(&l), "n={n}");
            for c in &emitted {
                let s = (c.index << c.level) as usize;
                assert_eq!(c.hash, naive_root(&l[s..s + (1 << c.level)]));
            }
            // Every complete node appears exactly once: n leaves produce 2n - popcount(n) nodes.
            assert_eq!(emitted.len() as u64, 2 * n - u64::from(n.count_ones()));
            let rebuilt = CompactRange::from_stored(n, &mut store(&l)).unwrap();
            assert_eq!(rebuilt, cr);
        }
    }

    #[test]
    fn generated_proofs_verify_for_all_small_trees() {
        for n in 1..40u64 {
            let l = leaves(n);
            let root = naive_root(&l);
            for i in 0..n {
                let p = inclusion_proof(i, n, &mut store(&l)).unwrap();
                verify_inclusion(i, n, &l[i as usize], &p, &root).unwrap();
            }
            for m in 1..=n {
                let p = consistency_proof(m, n, &mut store(&l)).unwrap();
                let old = naive_root(&l[..m as usize]);
                verify_consistency(m, n, &p, &old, &root).unwrap();
            }
        }
    }
}
