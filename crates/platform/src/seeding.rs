//! Shared by the `seed` commands that fill a database with realistic volumes for demos and
//! benchmarks.

/// A small deterministic generator (xorshift), so seeded runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Rows per multi-row INSERT: large enough to be fast, small enough for PostgreSQL's 65,535
/// bind parameters at 100 columns.
pub const ROWS_PER_STATEMENT: usize = 500;
