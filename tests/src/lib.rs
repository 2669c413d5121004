//! Test support: crafted captures (frame builder and pcap writer) shared by the integration tests and the benchmarks.

pub mod craft;
pub mod scenarios;

pub use scenarios::{all_scenarios, Scenario};
