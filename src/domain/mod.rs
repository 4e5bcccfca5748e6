//! The rules of the product as pure code: who may do what to a proposal, when
//! it is approved, rejected or expired, and how audit events are hashed.
//!
//! Nothing here touches the network, the database or the clock: callers pass
//! the time in. Everything is unit-tested without a database; the schema
//! enforces the same two-person rule a second time.

pub mod audit;
pub mod availability;
pub mod employee;
pub mod event;
pub mod fields;
pub mod integration;
pub mod policy;
pub mod proposal;
pub mod routing;
pub mod standing;
