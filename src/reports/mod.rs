//! Review reports: the queries (long SQL in the `.sql` files beside them,
//! each one set-based statement over a window of proposals), the stored
//! figures of settled days and months they add up (`rollups`, kept by
//! `workers::rollups`), and the CSV they are written as. The HTTP door is
//! `http::reports`.

pub mod csv;
mod queries;
pub mod rollups;

pub use queries::*;
