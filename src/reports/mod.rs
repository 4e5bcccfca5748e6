//! Review reports: the queries (long SQL in the `.sql` files beside them,
//! each one set-based statement over a window of proposals), the stored
//! figures of settled days and months they add up (`rollups`, kept by
//! `workers::rollups`), the shapes they are shown in (`views`) and the CSV
//! they are written as (`csv`). Who may read them and over which window is
//! `app::reports`; the doors (the REST API, the reports page) call that.

pub mod csv;
mod queries;
pub mod rollups;
pub mod views;

pub use queries::*;
