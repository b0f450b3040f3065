//! Integration tests of the emulator over real loopback connections.

mod api;
mod assertion;
mod auth;
mod authorize;
mod binary;
mod common;
mod device;
mod faults;
mod identity;
mod jwt;
mod list;
mod scenario;
mod tls;
