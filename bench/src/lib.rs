//! Benchmarks: the replay input generator and the replay harness that runs
//! ocellus, argus and tcpdump on the same capture.

pub mod gen;
pub mod relay;
pub mod replay;
