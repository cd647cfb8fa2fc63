//! Conformance reports: a console table, JSON, JUnit XML and a static HTML page.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;
