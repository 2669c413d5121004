//! Test support: crafted captures (frame builder and pcap writer), running the
//! real tools, and the differential comparison with Argus. Shared by the
//! integration tests and the benchmarks.

pub mod craft;
pub mod diff;
pub mod netns;
pub mod scenarios;
pub mod tools;

pub use scenarios::{all_scenarios, Scenario};
