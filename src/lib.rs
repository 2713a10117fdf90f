//! customer-api: a GraphQL server for customer records, on PostgreSQL or embedded SQLite.

pub mod auth;
pub mod blocking;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod locking;
pub mod mail;
pub mod metrics;
pub mod private_files;
pub mod service;
pub mod startup;
pub mod telemetry;
