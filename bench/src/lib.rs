//! Benchmarks: the replay input generator and the replay harness that runs
//! ocellus, argus and tcpdump on the same capture.

pub mod clients;
pub mod gen;
pub mod replay;
