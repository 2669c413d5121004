//! ocellus: a network activity audit system.
//!
//! The library holds everything; the `ocellus` binary is glue. Modules are named
//! by what they do:
//! - [`capture`]: packet sources (pcap/pcapng files, later live capture)
//! - [`packet`]: the one parser, link layer to L4
//! - [`filter`]: the Argus filter language (`ra - "tcp and port 80"`)
//! - [`flow`]: the flow engine (pinned workers, sharded tables, Argus flow model)
//! - [`netflow`]: NetFlow v5/v9 and IPFIX collection (export datagrams to records)
//! - [`ipfix`]: IPFIX export of records (RFC 7011, RFC 5103 biflows)
//! - [`record`]: flow records and their binary encoding
//! - [`ring`]: record files, ring directories of mapped segments, streams
//! - [`print`]: Argus `ra`-style text, CSV and JSON output
//! - [`remote`]: serving records over TLS, reading them remotely, the relay
//! - [`clients`]: the other Argus clients (sort, count, cluster, grep, anonymize)
//! - [`cli`]: the command-line front ends

pub mod capture;
pub mod cli;
pub mod clients;
pub mod filter;
pub mod flow;
pub mod graph;
pub mod ipfix;
pub mod live;
pub mod netflow;
pub mod packet;
pub mod prefetch;
pub mod print;
pub mod record;
pub mod remote;
pub mod ring;
