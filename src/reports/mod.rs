//! Review reports: the queries (long SQL in the `.sql` files beside them,
//! each one set-based statement over a window of proposals) and the CSV
//! they are written as. Reads only; the HTTP door is `http::reports`.

pub mod csv;
mod queries;

pub use queries::*;
