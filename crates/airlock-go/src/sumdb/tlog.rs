//! The checksum database's transparency log (`golang.org/x/mod/sumdb/tlog`): an
//! RFC 6962 Merkle tree of records, published as tiles of hashes.
//!
//! Hashes are numbered in the order the log stores them ("stored hash index"):
//! record `n`'s hash, then every complete subtree it closes. A tile of height `h`
//! at level `L` holds up to `2^h` consecutive hashes of tree level `L·h`. To read
//! hashes, [`TileRead`] plans which tiles are needed, the caller fetches them
//! (in parallel, from wherever), and [`TileRead::finish`] authenticates every
//! tile up to the signed tree root before returning a hash from one — as the
//! `go` client's `TileHashReader` does.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

/// Tile height used by sum.golang.org and assumed by `go`.
pub const TILE_HEIGHT: u32 = 8;

/// A SHA-256 hash in the tree.
pub type Hash = [u8; 32];

/// Why tree data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    /// Not a tree head (`go.sum database tree\n<N>\n<base64 hash>\n`).
    #[error("malformed tree note")]
    MalformedTree,
    /// Not a lookup record (`<id>\n<text>\n<tree note>`).
    #[error("malformed record data")]
    MalformedRecord,
    /// A hash outside the tree was asked for.
    #[error("record {0} is not in a tree of size {1}")]
    NotInTree(u64, u64),
    /// A tile of the wrong size.
    #[error("tile {0} has {1} bytes, expected {2}")]
    TileSize(String, usize, usize),
    /// The tiles do not hash to the signed root: forged or from another tree.
    #[error("downloaded inconsistent tile")]
    InconsistentTile,
}

/// The record hash of a leaf: SHA-256(0x00 || data).
pub fn record_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// An interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// A tree head: its size and root hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tree {
    /// Number of records.
    pub size: u64,
    /// Root hash.
    pub hash: Hash,
}

const TREE_PREFIX: &str = "go.sum database tree\n";

impl Tree {
    /// Parses the text of a tree note (after its signature was checked).
    pub fn parse(text: &str) -> Result<Tree, TlogError> {
        let rest = text
            .strip_prefix(TREE_PREFIX)
            .ok_or(TlogError::MalformedTree)?;
        let mut lines = rest.splitn(3, '\n');
        let (size, hash) = match (lines.next(), lines.next(), lines.next()) {
            (Some(size), Some(hash), Some(_)) => (size, hash),
            _ => return Err(TlogError::MalformedTree),
        };
        let n: u64 = size.parse().map_err(|_| TlogError::MalformedTree)?;
        if n.to_string() != size || n > i64::MAX as u64 {
            return Err(TlogError::MalformedTree);
        }
        let hash = base64::engine::general_purpose::STANDARD
            .decode(hash)
            .ok()
            .and_then(|h| Hash::try_from(h).ok())
            .ok_or(TlogError::MalformedTree)?;
        Ok(Tree { size: n, hash })
    }

    /// The root hash in base64, as notes write it.
    pub fn hash_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.hash)
    }
}

/// A lookup answer split into its parts: `<id>\n<record text>\n<signed tree note>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's number in the log.
    pub id: u64,
    /// Its text (go.sum lines, ending in `\n`).
    pub text: &'a str,
    /// The signed tree note that follows.
    pub tree_note: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parses a lookup answer.
    pub fn parse(msg: &'a [u8]) -> Result<Record<'a>, TlogError> {
        let bad = TlogError::MalformedRecord;
        let nl = msg.iter().position(|&b| b == b'\n').ok_or(bad.clone())?;
        let id = std::str::from_utf8(&msg[..nl]).map_err(|_| bad.clone())?;
        let id: u64 = id.parse().map_err(|_| bad.clone())?;
        let rest = &msg[nl + 1..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(bad.clone())?;
        let text = std::str::from_utf8(&rest[..end + 1]).map_err(|_| bad.clone())?;
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad);
        }
        Ok(Record {
            id,
            text,
            tree_note: &rest[end + 2..],
        })
    }
}

/// Where the hash of the subtree of level `level` and number `n` is stored.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Stored hashes before the subtree's first leaf, its leaf hashes, then its
    // interior ones: the count for a tree of `n << level` leaves, plus `level`.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// The inverse of [`stored_hash_index`]: (level, n).
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // The hash at `index` closes a subtree whose leftmost leaf is near index/2.
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// The largest power of two below `n` (n > 1), and its log2.
fn maxpow2(n: u64) -> (u64, u32) {
    let mut l = 0;
    while 1u64 << (l + 1) < n {
        l += 1;
    }
    (1 << l, l)
}

/// The stored hashes of the complete subtrees making up leaves `[lo, hi)`.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = maxpow2(hi - lo + 1);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// The root of a tree of `size` records from its complete subtrees' hashes
/// (in the order of [`tree_hash_indexes`]).
fn subtrees_root(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |h, left| node_hash(left, &h)))
}

/// The stored hashes whose combination is the root of a tree of `size` records.
pub fn tree_hash_indexes(size: u64) -> Vec<u64> {
    let mut need = Vec::new();
    subtree_indexes(0, size, &mut need);
    need
}

/// The root of a tree of `size` records from the hashes at [`tree_hash_indexes`].
pub fn tree_hash(size: u64, hashes: &[Hash]) -> Hash {
    if size == 0 {
        return Sha256::digest(b"").into();
    }
    subtrees_root(hashes).unwrap_or_default()
}

/// One tile: height, level (`None` for a data tile), number, and width (number
/// of hashes, `2^height` when complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// Height.
    pub height: u32,
    /// Level in the tiling.
    pub level: u32,
    /// Number within the level.
    pub n: u64,
    /// Number of hashes.
    pub width: u64,
}

impl Tile {
    /// The tile holding stored hash `index`, only as wide as needed to hold it,
    /// and the byte range of that hash's subtree within it.
    fn for_index(height: u32, index: u64) -> (Tile, std::ops::Range<usize>) {
        let (level, n) = split_stored_hash_index(index);
        let tile_level = level / height;
        let level = level - tile_level * height; // within the tile
        let tile_n = (n << level) >> height;
        let n = n - ((tile_n << height) >> level); // within the tile, at `level`
        let tile = Tile {
            height,
            level: tile_level,
            n: tile_n,
            width: (n + 1) << level,
        };
        let range = ((n << level) as usize * 32)..(((n + 1) << level) as usize * 32);
        (tile, range)
    }

    /// `tile/<H>/<L>/<NNN>[.p/<W>]`, the number in `x`-prefixed groups of three digits.
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut digits = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            digits = format!("x{:03}/{digits}", n % 1000);
        }
        let partial = if self.width == 1 << self.height {
            String::new()
        } else {
            format!(".p/{}", self.width)
        };
        format!("tile/{}/{}/{digits}{partial}", self.height, self.level)
    }

    /// The same tile, complete.
    pub fn full(&self) -> Tile {
        Tile {
            width: 1 << self.height,
            ..*self
        }
    }

    /// The tile `k` tile levels up that holds this tile's hash, in a tree of
    /// `size` records; `None` if that tile is empty.
    fn parent(&self, k: u32, size: u64) -> Option<Tile> {
        let mut t = *self;
        t.level += k;
        t.n >>= k * t.height;
        t.width = 1 << t.height;
        let max = size >> (t.level * t.height);
        if (t.n << t.height) + t.width >= max {
            if t.n << t.height >= max {
                return None;
            }
            t.width = max - (t.n << t.height);
        }
        Some(t)
    }
}

/// The hash of a complete subtree from its hashes at the tile's level.
fn tile_hash(data: &[u8]) -> Hash {
    if data.len() <= 32 {
        let mut h = [0; 32];
        h[..data.len()].copy_from_slice(data);
        return h;
    }
    let half = data.len() / 2;
    node_hash(&tile_hash(&data[..half]), &tile_hash(&data[half..]))
}

/// Reading stored hashes of a signed tree through its tiles; see the module's notes.
#[derive(Debug)]
pub struct TileRead {
    tree: Tree,
    /// Tiles to fetch: first those holding the tree's root subtrees, then the
    /// ones holding the hashes asked for, each followed by the parents that
    /// authenticate it (parents come first in the list).
    tiles: Vec<Tile>,
    /// The root subtrees' stored hash indexes, and the tile of each.
    roots: Vec<(u64, usize)>,
    /// The hashes asked for, and the tile of each.
    wanted: Vec<(u64, usize)>,
}

impl TileRead {
    /// Plans reading `indexes` from `tree` with tiles of `height`.
    pub fn plan(tree: Tree, height: u32, indexes: &[u64]) -> Result<TileRead, TlogError> {
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles = Vec::new();
        let mut roots = Vec::new();
        for x in tree_hash_indexes(tree.size) {
            let (tile, _) = Tile::for_index(height, x);
            let tile = tile
                .parent(0, tree.size)
                .ok_or(TlogError::NotInTree(x, tree.size))?;
            let at = *order.entry(tile).or_insert_with(|| {
                tiles.push(tile);
                tiles.len() - 1
            });
            roots.push((x, at));
        }
        let mut wanted = Vec::with_capacity(indexes.len());
        for &x in indexes {
            if x >= stored_hash_index(0, tree.size) {
                return Err(TlogError::NotInTree(x, tree.size));
            }
            let (tile, _) = Tile::for_index(height, x);
            // Walk up to the first tile already planned (a root tile is always reached).
            let mut k = 0;
            loop {
                let parent = tile.parent(k, tree.size);
                if parent.is_some_and(|p| order.contains_key(&p)) {
                    break;
                }
                k += 1;
                if k > 64 {
                    return Err(TlogError::NotInTree(x, tree.size));
                }
            }
            // Then add the ones below it, top down: each is authenticated by its parent.
            for k in (0..k).rev() {
                let p = tile
                    .parent(k, tree.size)
                    .ok_or(TlogError::NotInTree(x, tree.size))?;
                order.insert(p, tiles.len());
                tiles.push(p);
            }
            let own = tile
                .parent(0, tree.size)
                .and_then(|t| order.get(&t).copied())
                .ok_or(TlogError::NotInTree(x, tree.size))?;
            wanted.push((x, own));
        }
        Ok(TileRead {
            tree,
            tiles,
            roots,
            wanted,
        })
    }

    /// The tiles to fetch, in order.
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// Checks the fetched tiles (`data[i]` for `tiles()[i]`) against the tree's
    /// root and returns the hashes asked for.
    pub fn finish<D: AsRef<[u8]>>(&self, data: &[D]) -> Result<Vec<Hash>, TlogError> {
        if data.len() != self.tiles.len() {
            return Err(TlogError::InconsistentTile);
        }
        for (tile, data) in self.tiles.iter().zip(data) {
            let want = tile.width as usize * 32;
            if data.as_ref().len() != want {
                return Err(TlogError::TileSize(tile.path(), data.as_ref().len(), want));
            }
        }
        let hash_at = |i: usize, x: u64| -> Result<Hash, TlogError> {
            let tile = &self.tiles[i];
            let (t, range) = Tile::for_index(tile.height, x);
            if t.level != tile.level || t.n != tile.n || t.width > tile.width {
                return Err(TlogError::InconsistentTile);
            }
            Ok(tile_hash(&data[i].as_ref()[range]))
        };
        let roots: Vec<Hash> = self
            .roots
            .iter()
            .map(|&(x, i)| hash_at(i, x))
            .collect::<Result<_, _>>()?;
        if subtrees_root(&roots) != Some(self.tree.hash) {
            return Err(TlogError::InconsistentTile);
        }
        // Every other tile hashes to its hash in its parent, planned before it.
        let mut order: HashMap<Tile, usize> = HashMap::new();
        for (i, tile) in self.tiles.iter().enumerate() {
            if i >= self.roots_tiles() {
                let parent = tile
                    .parent(1, self.tree.size)
                    .and_then(|p| order.get(&p).map(|&j| (p, j)));
                let Some((parent, j)) = parent else {
                    return Err(TlogError::InconsistentTile);
                };
                let x = stored_hash_index(parent.level * parent.height, tile.n);
                if hash_at(j, x)? != tile_hash(data[i].as_ref()) {
                    return Err(TlogError::InconsistentTile);
                }
            }
            order.insert(*tile, i);
        }
        self.wanted.iter().map(|&(x, i)| hash_at(i, x)).collect()
    }

    /// How many tiles (at the front of the list) hold the root subtrees.
    fn roots_tiles(&self) -> usize {
        self.roots.iter().map(|&(_, i)| i + 1).max().unwrap_or(0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every stored hash of a tree with these records, in stored order.
    pub(crate) fn stored_hashes(records: &[Vec<u8>]) -> Vec<Hash> {
        let mut stored = Vec::new();
        // levels[l] = complete subtrees of level l so far.
        let mut levels: Vec<Vec<Hash>> = Vec::new();
        for r in records {
            let mut h = record_hash(r);
            stored.push(h);
            let mut l = 0;
            loop {
                if levels.len() == l {
                    levels.push(Vec::new());
                }
                levels[l].push(h);
                if levels[l].len() % 2 == 1 {
                    break;
                }
                let n = levels[l].len();
                h = node_hash(&levels[l][n - 2], &levels[l][n - 1]);
                stored.push(h);
                l += 1;
            }
        }
        stored
    }

    /// Tile bytes as a log with these stored hashes serves them.
    pub(crate) fn tile_data(stored: &[Hash], tile: &Tile) -> Vec<u8> {
        let start = tile.n << tile.height;
        (0..tile.width)
            .flat_map(|i| stored[stored_hash_index(tile.level * tile.height, start + i) as usize])
            .collect()
    }

    fn root(stored: &[Hash], size: u64) -> Hash {
        let hashes: Vec<Hash> = tree_hash_indexes(size)
            .iter()
            .map(|&x| stored[x as usize])
            .collect();
        tree_hash(size, &hashes)
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc6962_roots() {
        // The certificate-transparency reference vectors (also in tlog's ct_test.go).
        let leaves: Vec<Vec<u8>> = [
            &b""[..],
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect();
        let stored = stored_hashes(&leaves);
        assert_eq!(
            hex(&root(&stored, 1)),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex(&root(&stored, 3)),
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
        );
        assert_eq!(
            hex(&root(&stored, 7)),
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"
        );
        assert_eq!(
            hex(&root(&stored, 8)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        assert_eq!(
            hex(&tree_hash(0, &[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn stored_hash_indexes_round_trip() {
        // tlog_test.go TestStoredHashIndex's layout: leaves 0,1 then their parent, …
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        for level in 0..10 {
            for n in 0..300 {
                let x = stored_hash_index(level, n);
                assert_eq!(split_stored_hash_index(x), (level, n));
            }
        }
    }

    #[test]
    fn tile_paths() {
        let t = |level, n, width| Tile {
            height: 8,
            level,
            n,
            width,
        };
        assert_eq!(t(0, 0, 5).path(), "tile/8/0/000.p/5");
        assert_eq!(t(1, 0, 256).path(), "tile/8/1/000");
        assert_eq!(t(0, 1234067, 1).path(), "tile/8/0/x001/x234/067.p/1");
        assert_eq!(t(0, 3, 7).full().path(), "tile/8/0/003");
    }

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("example.com/m{i} v1.0.0 h1:x=\n").into_bytes())
            .collect()
    }

    fn read(
        stored: &[Hash],
        tree: Tree,
        height: u32,
        indexes: &[u64],
    ) -> Result<Vec<Hash>, TlogError> {
        let plan = TileRead::plan(tree, height, indexes)?;
        let data: Vec<Vec<u8>> = plan.tiles().iter().map(|t| tile_data(stored, t)).collect();
        plan.finish(&data)
    }

    #[test]
    fn records_are_read_and_authenticated_through_tiles() {
        let recs = records(700);
        let stored = stored_hashes(&recs);
        for size in [1u64, 2, 3, 255, 256, 257, 300, 511, 512, 513, 700] {
            let tree = Tree {
                size,
                hash: root(&stored, size),
            };
            for height in [2, 8] {
                let ids: Vec<u64> = [0, size / 2, size - 1].to_vec();
                let indexes: Vec<u64> = ids.iter().map(|&id| stored_hash_index(0, id)).collect();
                let hashes = read(&stored, tree, height, &indexes).expect("read");
                for (id, h) in ids.iter().zip(hashes) {
                    assert_eq!(h, record_hash(&recs[*id as usize]), "size {size} id {id}");
                }
                // Consistency: an older tree's root from the newer tree's tiles.
                for old in [1, size / 3 + 1, size] {
                    let hashes =
                        read(&stored, tree, height, &tree_hash_indexes(old)).expect("read");
                    assert_eq!(
                        tree_hash(old, &hashes),
                        root(&stored, old),
                        "{old} in {size}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn any_record_and_any_older_tree_verify_through_tiles(
            size in 1u64..1500,
            id_part in 0.0f64..1.0,
            old_part in 0.0f64..1.0,
            height in 1u32..9,
        ) {
            let recs = records(size as usize);
            let stored = stored_hashes(&recs);
            let tree = Tree { size, hash: root(&stored, size) };
            let id = ((size as f64 * id_part) as u64).min(size - 1);
            let hashes = read(&stored, tree, height, &[stored_hash_index(0, id)]).expect("record");
            proptest::prop_assert_eq!(hashes[0], record_hash(&recs[id as usize]));
            let old = ((size as f64 * old_part) as u64).clamp(1, size);
            let hashes = read(&stored, tree, height, &tree_hash_indexes(old)).expect("older tree");
            proptest::prop_assert_eq!(tree_hash(old, &hashes), root(&stored, old));
        }
    }

    #[test]
    fn forged_tiles_and_other_trees_are_refused() {
        let recs = records(300);
        let stored = stored_hashes(&recs);
        let tree = Tree {
            size: 300,
            hash: root(&stored, 300),
        };
        let plan = TileRead::plan(tree, 8, &[stored_hash_index(0, 5)]).expect("plan");
        let good: Vec<Vec<u8>> = plan.tiles().iter().map(|t| tile_data(&stored, t)).collect();
        assert!(plan.finish(&good).is_ok());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i][7] ^= 1;
            assert_eq!(
                plan.finish(&bad),
                Err(TlogError::InconsistentTile),
                "tile {i}"
            );
        }
        let mut short = good.clone();
        short[0].pop();
        assert!(matches!(plan.finish(&short), Err(TlogError::TileSize(..))));
        // A forked log: another record 5 gives other tiles and another root.
        let mut forked = recs.clone();
        forked[5] = b"example.com/m5 v1.0.0 h1:evil=\n".to_vec();
        let other = stored_hashes(&forked);
        let data: Vec<Vec<u8>> = plan.tiles().iter().map(|t| tile_data(&other, t)).collect();
        assert_eq!(plan.finish(&data), Err(TlogError::InconsistentTile));
        assert!(matches!(
            TileRead::plan(tree, 8, &[stored_hash_index(0, 300)]),
            Err(TlogError::NotInTree(..))
        ));
    }

    #[test]
    fn tree_notes_and_records_parse() {
        let text = "go.sum database tree\n300\nbVJkh3TpH0zKfBafrQNXcoqOhoPiIYIlGwMUm6xr7/M=\n";
        let tree = Tree::parse(text).expect("tree");
        assert_eq!(tree.size, 300);
        assert_eq!(
            tree.hash_base64(),
            "bVJkh3TpH0zKfBafrQNXcoqOhoPiIYIlGwMUm6xr7/M="
        );
        for bad in [
            "go.sum database tree\n0300\nbVJkh3TpH0zKfBafrQNXcoqOhoPiIYIlGwMUm6xr7/M=\n",
            "go.sum database tree\n-1\nbVJkh3TpH0zKfBafrQNXcoqOhoPiIYIlGwMUm6xr7/M=\n",
            "go.sum database tree\n3\nshort=\n",
            "go.sum database tree\n3\n",
            "other tree\n3\nbVJkh3TpH0zKfBafrQNXcoqOhoPiIYIlGwMUm6xr7/M=\n",
        ] {
            assert_eq!(Tree::parse(bad), Err(TlogError::MalformedTree), "{bad:?}");
        }
        let msg =
            format!("7\nexample.com/m v1.0.0 h1:x=\nexample.com/m v1.0.0/go.mod h1:y=\n\n{text}");
        let record = Record::parse(msg.as_bytes()).expect("record");
        assert_eq!(record.id, 7);
        assert_eq!(
            record.text,
            "example.com/m v1.0.0 h1:x=\nexample.com/m v1.0.0/go.mod h1:y=\n"
        );
        assert_eq!(record.tree_note, text.as_bytes());
        for bad in ["x\nrec\n\nnote", "7\nrec\nnote", "7\nre\u{1}c\n\nnote"] {
            assert_eq!(
                Record::parse(bad.as_bytes()),
                Err(TlogError::MalformedRecord)
            );
        }
    }
}
