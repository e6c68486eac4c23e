//! AIPM's domain crate: the story model, its rules, the ports and adapters, and the HTTP glue
//! that every Lambda function of the API is built from.

pub mod adapters;
pub mod authz;
pub mod changes;
pub mod config;
pub mod error;
pub mod handlers;
pub mod history;
pub mod http;
pub mod live;
pub mod model;
pub mod pagination;
pub mod ports;
pub mod project;
pub mod rules;
pub mod runtime;
pub mod startup;
pub mod telemetry;
pub mod traceability;
pub mod validation;

pub use error::{Error, Result};
