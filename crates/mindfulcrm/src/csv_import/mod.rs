//! Contacts from a CSV file. Each column is mapped to a contact field (guessed from the header
//! names when no mapping is given), every row is checked with the same rules as the API, and
//! then every row is created in one transaction, or none. A dry run reports what would be
//! created. Our own CSV export reads back field for field with the guessed mapping.

mod fields;
mod rows;
#[cfg(test)]
mod tests;

/// More rows than this are refused: split the file.
pub const MAX_ROWS: usize = 50_000;
/// Contacts shown by a dry run.
pub const PREVIEW_ROWS: usize = 20;
/// Problems listed in one answer; a file with more says how many were left out.
const MAX_PROBLEMS: usize = 500;
/// Sample values per column on the mapping page.
const SAMPLES: usize = 3;

pub use fields::*;
pub use rows::*;
