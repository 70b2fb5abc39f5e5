//! Inferscope: profile, optimize and cost-plan ONNX models.
//!
//! The core (everything except `cli`) knows nothing about terminals or windows: the CLI and the
//! app both drive the same functions.

pub mod app;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod cost;
pub mod data;
pub mod engine;
pub mod environment;
pub mod format;
pub mod fsutil;
pub mod guard;
pub mod load;
pub mod model;
pub mod optimize;
pub mod preset;
pub mod profile;
pub mod report;
pub mod settings;
pub mod tensor;
pub mod worker;
