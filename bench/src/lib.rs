//! Benchmarks: the replay input generator and the replay harness that runs
//! ocellus, argus and tcpdump on the same capture; the live capture bench over
//! veth (`live`).

pub mod clients;
pub mod gen;
pub mod live;
pub mod relay;
pub mod replay;
