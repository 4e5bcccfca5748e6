//! API tests: the real router on a real PostgreSQL database per test.

mod app_layer;
mod audit;
mod browser;
mod connections;
mod container;
mod contract;
mod embedded;
mod errors;
mod health;
mod helpers;
mod hygiene;
mod inbound;
mod integrations;
mod migrations;
mod nobody_waits;
mod people;
mod policy_loop;
mod proposals;
mod races;
mod receiver;
mod reports;
mod reviews;
mod roles;
mod signing;
mod web;
mod webhooks;
