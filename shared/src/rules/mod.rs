//! The rules of stories: INVEST, Given/When/Then health, the status workflow and the links
//! between stories. Pure functions, tested without I/O.

pub mod brief;
pub mod dependencies;
pub mod documents;
pub mod drafts;
pub mod gwt;
pub mod invest;
pub mod review;
pub mod revision;
pub mod text;
pub mod workflow;
