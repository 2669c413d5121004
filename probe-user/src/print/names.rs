//! Number-to-name tables used by the printer: TCP/UDP service names (from
//! `/etc/services`, read once), and the protocol, ethertype and LLC SAP names that
//! Argus 3.0.8 compiles into `ra` (it does not consult `/etc/protocols`: proto 4
//! prints `ipnip`, not the `ipencap` of `/etc/protocols`).

use hashbrown::HashMap;
use std::path::Path;

/// Service names for TCP and UDP ports.
#[derive(Clone, Debug, Default)]
pub struct Names {
    tcp: HashMap<u16, Box<str>>,
    udp: HashMap<u16, Box<str>>,
}

/// Used when `/etc/services` cannot be read: the common ports, named as Debian's
/// `/etc/services` names them.
const FALLBACK_SERVICES: &[(u16, &str, &str)] = &[
    (20, "ftp-data", "tcp"),
    (21, "ftp", "tcp"),
    (22, "ssh", "tcp"),
    (23, "telnet", "tcp"),
    (25, "smtp", "tcp"),
    (53, "domain", "tcp"),
    (53, "domain", "udp"),
    (67, "bootps", "udp"),
    (68, "bootpc", "udp"),
    (69, "tftp", "udp"),
    (80, "http", "tcp"),
    (110, "pop3", "tcp"),
    (123, "ntp", "udp"),
    (137, "netbios-ns", "udp"),
    (138, "netbios-dgm", "udp"),
    (139, "netbios-ssn", "tcp"),
    (143, "imap2", "tcp"),
    (161, "snmp", "udp"),
    (162, "snmp-trap", "udp"),
    (179, "bgp", "tcp"),
    (389, "ldap", "tcp"),
    (443, "https", "tcp"),
    (443, "https", "udp"),
    (445, "microsoft-ds", "tcp"),
    (514, "syslog", "udp"),
    (546, "dhcpv6-client", "udp"),
    (547, "dhcpv6-server", "udp"),
    (587, "submission", "tcp"),
    (993, "imaps", "tcp"),
    (995, "pop3s", "tcp"),
    (1194, "openvpn", "udp"),
    (1900, "ssdp", "udp"),
    (3306, "mysql", "tcp"),
    (5353, "mdns", "udp"),
    (5432, "postgresql", "tcp"),
    (6379, "redis", "tcp"),
    (8080, "http-alt", "tcp"),
];

impl Names {
    /// No names at all (every port prints as a number).
    pub fn empty() -> Names {
        Names::default()
    }

    /// `/etc/services`, or the built-in table of common ports when it cannot be read.
    pub fn system() -> Names {
        Names::from_services_file(Path::new("/etc/services")).unwrap_or_else(|_| Names::builtin())
    }

    /// The built-in table of common ports.
    pub fn builtin() -> Names {
        let mut n = Names::default();
        for &(port, name, proto) in FALLBACK_SERVICES {
            n.insert(port, name, proto);
        }
        n
    }

    pub fn from_services_file(path: &Path) -> std::io::Result<Names> {
        let text = std::fs::read_to_string(path)?;
        Ok(Names::from_services_text(&text))
    }

    /// Parses `/etc/services` syntax: `name port/proto [aliases] [# comment]`.
    /// The first name for a port wins, as with `getservbyport`.
    pub fn from_services_text(text: &str) -> Names {
        let mut n = Names::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            if let Ok(port) = port.parse::<u16>() {
                n.insert(port, name, proto);
            }
        }
        n
    }

    fn insert(&mut self, port: u16, name: &str, proto: &str) {
        let map = match proto {
            "tcp" => &mut self.tcp,
            "udp" => &mut self.udp,
            _ => return,
        };
        map.entry(port).or_insert_with(|| name.into());
    }

    /// The service name of a TCP (`proto` 6) or UDP (17) port.
    pub fn service(&self, proto: u8, port: u16) -> Option<&str> {
        match proto {
            6 => self.tcp.get(&port).map(|s| &**s),
            17 => self.udp.get(&port).map(|s| &**s),
            _ => None,
        }
    }

    /// Whether a port has a service name for either TCP or UDP.
    pub fn is_service(&self, port: u16) -> bool {
        self.tcp.contains_key(&port) || self.udp.contains_key(&port)
    }
}

/// The IP protocol name `ra` prints (its compiled-in table; IANA keywords with
/// Argus's own spellings). Unassigned numbers print `unas`.
pub fn ip_proto_name(p: u8) -> &'static str {
    const NAMES: [&str; 139] = [
        "ip",
        "icmp",
        "igmp",
        "ggp",
        "ipnip",
        "st2",
        "tcp",
        "cbt",
        "egp",
        "igp", // 0-9
        "bbn-rcc",
        "nvp",
        "pup",
        "argus",
        "emcon",
        "xnet",
        "chaos",
        "udp",
        "mux",
        "dcn", // 10-19
        "hmp",
        "prm",
        "xns-idp",
        "trunk-1",
        "trunk-2",
        "leaf-1",
        "leaf-2",
        "rdp",
        "irtp",
        "iso-tp4", // 20-29
        "netblt",
        "mfe-nsp",
        "merit-inp",
        "sep",
        "3pc",
        "idpr",
        "xtp",
        "ddp",
        "idpr-cmtp",
        "tp++", // 30-39
        "il",
        "ipv6",
        "sdrp",
        "ipv6-route",
        "ipv6-frag",
        "idrp",
        "rsvp",
        "gre",
        "mhrp",
        "bna", // 40-49
        "esp",
        "ah",
        "i-nlsp",
        "swipe",
        "narp",
        "mobile",
        "tlsp",
        "skip",
        "ipv6-icmp",
        "ipv6-no", // 50-59
        "ipv6-opts",
        "any",
        "cftp",
        "any",
        "sat-expak",
        "kryptolan",
        "rvd",
        "ippc",
        "any",
        "sat-mon", // 60-69
        "visa",
        "ipcv",
        "cpnx",
        "cphb",
        "wsn",
        "pvp",
        "br-sat-mon",
        "sun-nd",
        "wb-mon",
        "wb-expak", // 70-79
        "iso-ip",
        "vmtp",
        "secure-vmtp",
        "vines",
        "ttp",
        "nsfnet-igp",
        "dgp",
        "tcf",
        "eigrp",
        "ospf", // 80-89
        "sprite-rpc",
        "larp",
        "mtp",
        "ax.25",
        "ipip",
        "micp",
        "aes-sp3-d",
        "etherip",
        "encap",
        "pri-enc", // 90-99
        "gmtp",
        "ifmp",
        "pnni",
        "pim",
        "aris",
        "scps",
        "qnx",
        "a/n",
        "ipcomp",
        "snp", // 100-109
        "compaq-peer",
        "ipx-n-ip",
        "vrrp",
        "pgm",
        "zero",
        "l2tp",
        "ddx",
        "iatp",
        "stp",
        "srp", // 110-119
        "uti",
        "smp",
        "sm",
        "ptp",
        "isis",
        "fire",
        "crtp",
        "crudp",
        "sccopmce",
        "iplt", // 120-129
        "sps",
        "pipe",
        "sctp",
        "fc",
        "rsvp",
        "unas",
        "unas",
        "unas",
        "unas", // 130-138
    ];
    match p {
        253 => "ib",
        _ => NAMES.get(p as usize).copied().unwrap_or("unas"),
    }
}

/// The name `ra` prints in the proto column for a non-IP ethertype; `None` when
/// it has none (ra then prints the ethertype in decimal, e.g. `34997`).
pub fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0200 => "pup",
        0x0800 => "ip",
        0x0806 => "arp",
        0x8035 => "rarp",
        0x2000 => "cdp",
        0x6003 => "decnet",
        0x6004 => "lat",
        0x8038 => "lanbridge",
        0x809b => "atalk",
        0x80f3 => "aarp",
        0x8137 => "ipx",
        0x86dd => "ipv6",
        0x8863 | 0x8864 => "pppoe",
        0x8847 => "mpls",
        0x8848 => "mpls-mc",
        0x88cc => "lldp",
        0x9000 => "loop",
        _ => return None,
    })
}

/// The name `ra` prints for an 802.2 LLC SAP.
pub fn llc_sap_name(sap: u8) -> Option<&'static str> {
    Some(match sap {
        0x00 => "null",
        0x02 => "gsap",
        0x03 => "isap",
        0x04 => "snapath",
        0x06 => "ipsap",
        0x08 => "sna1",
        0x0c => "sna2",
        0x0e => "p-nm",
        0x18 => "ti",
        0x42 => "stp",
        0x4e => "eia",
        0x7e => "x25",
        0x80 => "xns",
        0x86 => "nestar",
        0x8e => "p-aslm",
        0x98 => "arp",
        0xaa => "snap",
        0xba => "vine1",
        0xbc => "vine2",
        0xe0 => "netware",
        0xf0 => "netbios",
        0xf4 => "ibmnm",
        0xf8 => "rpl1",
        0xfa => "ub",
        0xfc => "rpl2",
        0xfe => "clns",
        0xff => "gbl",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_first_name_wins_and_comments_are_skipped() {
        let n = Names::from_services_text(
            "# c\nhttp 80/tcp www # web\nhttp2 80/tcp\nmdns 5353/udp\nbad line\nx 99999/tcp\n",
        );
        assert_eq!(n.service(6, 80), Some("http"));
        assert_eq!(n.service(17, 80), None);
        assert_eq!(n.service(17, 5353), Some("mdns"));
        assert!(n.is_service(5353));
        assert!(!n.is_service(81));
    }

    #[test]
    fn argus_protocol_spellings() {
        assert_eq!(ip_proto_name(4), "ipnip");
        assert_eq!(ip_proto_name(58), "ipv6-icmp");
        assert_eq!(ip_proto_name(63), "any");
        assert_eq!(ip_proto_name(122), "sm");
        assert_eq!(ip_proto_name(132), "sctp");
        assert_eq!(ip_proto_name(165), "unas");
        assert_eq!(ip_proto_name(253), "ib");
        assert_eq!(ethertype_name(0x88a8), None);
        assert_eq!(ethertype_name(0x8864), Some("pppoe"));
        assert_eq!(llc_sap_name(0x42), Some("stp"));
        assert_eq!(llc_sap_name(0x01), None);
    }
}
