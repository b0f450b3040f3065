//! Sans-IO model of the Azure Device Update for IoT Hub "get operation status" API.
#![forbid(unsafe_code)]

pub mod generated;
pub mod time;

pub use generated as models;
pub use time::Timestamp;
