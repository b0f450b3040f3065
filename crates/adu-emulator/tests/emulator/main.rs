//! Integration tests of the emulator over real loopback connections.

mod api;
mod auth;
mod authorize;
mod binary;
mod common;
mod device;
mod faults;
mod list;
mod scenario;
mod tls;
