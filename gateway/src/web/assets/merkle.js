// RFC 6962 / RFC 9162 Merkle proof verification with WebCrypto SHA-256.
//
// Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right). The proofs are
// those of the gateway's audit API: base64 hashes, the leaf's sibling first. The algorithms are
// RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2 (consistency), with sizes as BigInt so logs
// past 2^32 entries verify too. Every function resolves to a result or throws a MerkleError that
// says why; none of them trusts the server's answer.
'use strict';
(function (global) {
  class MerkleError extends Error {}

  const enc = new TextEncoder();

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }

  function concat(prefix, ...parts) {
    let n = 1;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    out[0] = prefix;
    let o = 1;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  /** SHA-256(0x00 || entry); `entry` is a Uint8Array or a string (UTF-8). */
  function leafHash(entry) {
    const bytes = typeof entry === 'string' ? enc.encode(entry) : entry;
    return sha256(concat(0x00, bytes));
  }

  /** SHA-256(0x01 || left || right). */
  function nodeHash(left, right) {
    return sha256(concat(0x01, left, right));
  }

  function fromB64(s) {
    if (typeof s !== 'string') throw new MerkleError('hash is not a base64 string');
    let bin;
    try { bin = atob(s); } catch (e) { throw new MerkleError('hash is not valid base64'); }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function toB64(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  function hash32(h, what) {
    const b = typeof h === 'string' ? fromB64(h) : h;
    if (!(b instanceof Uint8Array) || b.length !== 32) throw new MerkleError(what + ' is not a 32-byte hash');
    return b;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  const big = (n, what) => {
    try {
      const v = BigInt(n);
      if (v < 0n) throw new MerkleError(what + ' is negative');
      return v;
    } catch (e) {
      if (e instanceof MerkleError) throw e;
      throw new MerkleError(what + ' is not an integer');
    }
  };

  /** The root that an inclusion proof yields for `leaf` at `index` in a tree of `size`. */
  async function rootFromInclusion(index, size, leaf, proof) {
    let fn = big(index, 'index');
    let sn = big(size, 'size') - 1n;
    if (fn > sn) throw new MerkleError('index ' + index + ' is not inside a tree of size ' + size);
    let r = hash32(leaf, 'leaf hash');
    for (const p of proof) {
      const h = hash32(p, 'proof hash');
      if (sn === 0n) throw new MerkleError('proof is longer than the tree is deep');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(h, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, h);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new MerkleError('proof is shorter than the tree is deep');
    return r;
  }

  /** Resolves when `leaf` is entry `index` of the tree of `size` with `root`; throws otherwise. */
  async function verifyInclusion(index, size, leaf, proof, root) {
    const want = hash32(root, 'root');
    const got = await rootFromInclusion(index, size, leaf, proof);
    if (!equal(got, want)) throw new MerkleError('inclusion proof leads to a different root');
    return true;
  }

  /** Resolves when the tree (size2, root2) extends (size1, root1); throws otherwise. */
  async function verifyConsistency(size1, size2, root1, root2, proof) {
    const s1 = big(size1, 'old size');
    const s2 = big(size2, 'new size');
    if (s2 < s1) throw new MerkleError('new size ' + size2 + ' is smaller than old size ' + size1);
    if (s1 === 0n) throw new MerkleError('a consistency proof from size 0 is not defined');
    if (s1 === s2) {
      // Nothing to hash: the two roots must simply be the same bytes.
      if (proof.length !== 0) throw new MerkleError('equal sizes need an empty proof');
      const a = typeof root1 === 'string' ? fromB64(root1) : root1;
      const b = typeof root2 === 'string' ? fromB64(root2) : root2;
      if (!equal(a, b)) throw new MerkleError('same size, different roots: the log forked');
      return true;
    }
    const r1 = hash32(root1, 'old root');
    const r2 = hash32(root2, 'new root');
    const hashes = proof.map((p) => hash32(p, 'proof hash'));
    if (hashes.length === 0) throw new MerkleError('empty consistency proof');
    // When size1 is a power of two, the old root is itself the first node of the path.
    if ((s1 & (s1 - 1n)) === 0n) hashes.unshift(r1);
    let fn = s1 - 1n;
    let sn = s2 - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = hashes[0];
    let sr = hashes[0];
    for (const c of hashes.slice(1)) {
      if (sn === 0n) throw new MerkleError('consistency proof is too long');
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new MerkleError('consistency proof is too short');
    if (!equal(fr, r1)) throw new MerkleError('consistency proof does not lead to the old root');
    if (!equal(sr, r2)) throw new MerkleError('consistency proof does not lead to the new root');
    return true;
  }

  /** RFC 6962 Merkle Tree Hash of a list of leaf hashes (the root of a whole log). */
  async function rootOfLeaves(leaves) {
    if (leaves.length === 0) return sha256(new Uint8Array(0));
    // Compact range: a stack of perfect subtrees, merged as in the RFC's recursive split.
    const stack = [];
    for (let i = 0; i < leaves.length; i++) {
      let node = leaves[i];
      let n = i + 1;
      // Merge while the lowest bit of the count is 0 (a completed subtree).
      let size = 1;
      while ((n & 1) === 0) {
        const left = stack.pop();
        node = await nodeHash(left.hash, node);
        size *= 2;
        n >>= 1;
      }
      stack.push({ hash: node, size });
    }
    let root = stack.pop().hash;
    while (stack.length) root = await nodeHash(stack.pop().hash, root);
    return root;
  }

  global.PesMerkle = {
    MerkleError, leafHash, nodeHash, rootFromInclusion, verifyInclusion, verifyConsistency,
    rootOfLeaves, fromB64, toB64, equal,
  };
})(window);
