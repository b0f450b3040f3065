//! Integration tests of the emulator over real loopback connections.

mod api;
mod auth;
mod authorize;
mod binary;
mod common;
mod faults;
mod scenario;
mod tls;
