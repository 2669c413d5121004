//! Name lookups the parser needs: `/etc/services` port names and
//! `/etc/protocols` protocol names, read once, with small built-in tables when
//! the files cannot be read.

use hashbrown::HashMap;
use std::sync::OnceLock;

const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap2", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("syslog", 514),
    ("imaps", 993),
    ("pop3s", 995),
    ("mdns", 5353),
    ("http-alt", 8080),
];

const BUILTIN_PROTOCOLS: &[(&str, u8)] = &[
    ("hopopt", 0),
    ("ipencap", 4),
    ("ipnip", 4),
    ("egp", 8),
    ("pup", 12),
    ("idp", 22),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udplite", 136),
];

fn services() -> &'static HashMap<String, u16> {
    static MAP: OnceLock<HashMap<String, u16>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m: HashMap<String, u16> = HashMap::new();
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_whitespace();
                let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                    continue;
                };
                let Some((port, proto)) = pp.split_once('/') else {
                    continue;
                };
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                if proto != "tcp" && proto != "udp" {
                    continue;
                }
                for n in std::iter::once(name).chain(words) {
                    m.entry(n.to_string()).or_insert(port);
                }
            }
        }
        for &(n, p) in BUILTIN_SERVICES {
            m.entry(n.to_string()).or_insert(p);
        }
        m
    })
}

fn protocols() -> &'static HashMap<String, u8> {
    static MAP: OnceLock<HashMap<String, u8>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m: HashMap<String, u8> = HashMap::new();
        if let Ok(text) = std::fs::read_to_string("/etc/protocols") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_whitespace();
                let (Some(name), Some(num)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(num) = num.parse::<u8>() else {
                    continue;
                };
                for n in std::iter::once(name).chain(words) {
                    m.entry(n.to_ascii_lowercase()).or_insert(num);
                }
            }
        }
        for &(n, p) in BUILTIN_PROTOCOLS {
            m.entry(n.to_string()).or_insert(p);
        }
        m.insert("icmp6".to_string(), 58);
        m
    })
}

/// The port of a TCP or UDP service name.
pub(super) fn service_port(name: &str) -> Option<u16> {
    services().get(name).copied()
}

/// The number of an IP protocol name.
pub(super) fn protocol_number(name: &str) -> Option<u8> {
    protocols().get(name).copied()
}
