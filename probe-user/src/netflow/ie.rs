//! The information elements ocellus reads and writes (IANA IPFIX registry
//! numbers; NetFlow v9 field types 1..127 are the same numbers).

pub const OCTET_DELTA_COUNT: u16 = 1;
pub const PACKET_DELTA_COUNT: u16 = 2;
pub const PROTOCOL_IDENTIFIER: u16 = 4;
pub const IP_CLASS_OF_SERVICE: u16 = 5;
pub const TCP_CONTROL_BITS: u16 = 6;
pub const SOURCE_TRANSPORT_PORT: u16 = 7;
pub const SOURCE_IPV4_ADDRESS: u16 = 8;
pub const DESTINATION_TRANSPORT_PORT: u16 = 11;
pub const DESTINATION_IPV4_ADDRESS: u16 = 12;
/// NetFlow v9 LAST_SWITCHED / IPFIX flowEndSysUpTime (milliseconds of uptime).
pub const FLOW_END_SYS_UP_TIME: u16 = 21;
/// NetFlow v9 FIRST_SWITCHED / IPFIX flowStartSysUpTime.
pub const FLOW_START_SYS_UP_TIME: u16 = 22;
pub const SOURCE_IPV6_ADDRESS: u16 = 27;
pub const DESTINATION_IPV6_ADDRESS: u16 = 28;
pub const ICMP_TYPE_CODE_IPV4: u16 = 32;
/// NetFlow v9 SAMPLING_INTERVAL / IPFIX samplingInterval (deprecated, still sent).
pub const SAMPLING_INTERVAL: u16 = 34;
/// NetFlow v9 FLOW_SAMPLER_RANDOM_INTERVAL / IPFIX samplerRandomInterval.
pub const SAMPLER_RANDOM_INTERVAL: u16 = 50;
pub const MINIMUM_TTL: u16 = 52;
pub const MAXIMUM_TTL: u16 = 53;
pub const SOURCE_MAC_ADDRESS: u16 = 56;
pub const VLAN_ID: u16 = 58;
pub const POST_VLAN_ID: u16 = 59;
pub const MPLS_TOP_LABEL_STACK_SECTION: u16 = 70;
pub const DESTINATION_MAC_ADDRESS: u16 = 80;
pub const OCTET_TOTAL_COUNT: u16 = 85;
pub const PACKET_TOTAL_COUNT: u16 = 86;
pub const FLOW_END_REASON: u16 = 136;
pub const ICMP_TYPE_CODE_IPV6: u16 = 139;
pub const FLOW_START_SECONDS: u16 = 150;
pub const FLOW_END_SECONDS: u16 = 151;
pub const FLOW_START_MILLISECONDS: u16 = 152;
pub const FLOW_END_MILLISECONDS: u16 = 153;
pub const FLOW_START_MICROSECONDS: u16 = 154;
pub const FLOW_END_MICROSECONDS: u16 = 155;
pub const FLOW_START_NANOSECONDS: u16 = 156;
pub const FLOW_END_NANOSECONDS: u16 = 157;
pub const FLOW_START_DELTA_MICROSECONDS: u16 = 158;
pub const FLOW_END_DELTA_MICROSECONDS: u16 = 159;
pub const SYSTEM_INIT_TIME_MILLISECONDS: u16 = 160;
pub const ICMP_TYPE_IPV4: u16 = 176;
pub const ICMP_CODE_IPV4: u16 = 177;
pub const ICMP_TYPE_IPV6: u16 = 178;
pub const ICMP_CODE_IPV6: u16 = 179;
pub const IP_TTL: u16 = 192;
pub const INITIATOR_OCTETS: u16 = 231;
pub const RESPONDER_OCTETS: u16 = 232;
pub const BIFLOW_DIRECTION: u16 = 239;
pub const DOT1Q_VLAN_ID: u16 = 243;
pub const INITIATOR_PACKETS: u16 = 298;
pub const RESPONDER_PACKETS: u16 = 299;
pub const SAMPLING_PACKET_INTERVAL: u16 = 305;
pub const SAMPLING_PACKET_SPACE: u16 = 306;

/// RFC 5103: the private enterprise number whose elements are the reverse
/// direction of the IANA element with the same number.
pub const REVERSE_PEN: u32 = 29305;

/// IPFIX field length meaning "variable length" (RFC 7011 section 7).
pub const VARLEN: u16 = 0xffff;
