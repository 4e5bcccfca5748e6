//! Countersign: two-person exception approval for customer service.
//!
//! The crate is a library first; `main.rs` only parses the command line.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod healthcheck;
pub mod http;
pub mod problem;
pub mod reports;
pub mod requests;
pub mod sealing;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod web;
pub mod webhooks;
pub mod workers;
