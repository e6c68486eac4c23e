//! Traceability: acceptance tests named by keys (`AT-n`) that CI reports carry, so a result can
//! be tied to the test it proves.

pub mod cucumber;
pub mod keys;
pub mod matrix;
pub mod oidc;
pub mod report;
pub mod status;

pub use keys::{keys_in_name, parse_test_key, test_key};
