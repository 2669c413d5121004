//! The printable fields: Argus name, header label, default width and alignment,
//! as measured on `ra -s <field>` of Argus 3.0.8.2. Only fields whose value a
//! [`FlowRecord`](crate::record::FlowRecord) carries are listed.

/// How a value (or label) sits in its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Right,
    Left,
    /// Label only: `(width - len) / 2` spaces before.
    Center,
}

macro_rules! fields {
    ($( $id:ident = $name:literal, $label:literal, $width:literal, $valign:ident, $lalign:ident; )*) => {
        /// A printable field.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field { $( $id, )* }

        /// Every field, in table order.
        pub const ALL_FIELDS: &[Field] = &[ $( Field::$id, )* ];

        impl Field {
            /// The Argus field name (`ra -s NAME`, JSON key).
            pub const fn name(self) -> &'static str {
                match self { $( Field::$id => $name, )* }
            }
            /// The header label.
            pub const fn label(self) -> &'static str {
                match self { $( Field::$id => $label, )* }
            }
            /// Default width, at the default precision of 6 for time fields.
            pub const fn default_width(self) -> usize {
                match self { $( Field::$id => $width, )* }
            }
            pub const fn value_align(self) -> Align {
                match self { $( Field::$id => Align::$valign, )* }
            }
            pub const fn label_align(self) -> Align {
                match self { $( Field::$id => Align::$lalign, )* }
            }
        }
    };
}

fields! {
    StartTime = "stime", "StartTime", 18, Right, Right;
    LastTime = "ltime", "LastTime", 18, Right, Right;
    SrcStartTime = "sstime", "SrcStartTime", 19, Right, Right;
    SrcLastTime = "sltime", "SrcLastTime", 19, Right, Right;
    DstStartTime = "dstime", "DstStartTime", 19, Right, Right;
    DstLastTime = "dltime", "DstLastTime", 19, Right, Right;
    Dur = "dur", "Dur", 10, Right, Right;
    SrcDur = "sdur", "SrcDur", 10, Right, Right;
    DstDur = "ddur", "DstDur", 10, Right, Right;
    Trans = "trans", "Trans", 6, Right, Right;
    Seq = "seq", "Seq", 12, Right, Center;
    SrcId = "srcid", "SrcId", 18, Right, Right;
    Cause = "cause", "Cause", 7, Right, Right;
    SrcAddr = "saddr", "SrcAddr", 18, Right, Right;
    DstAddr = "daddr", "DstAddr", 18, Right, Right;
    Proto = "proto", "Proto", 6, Right, Right;
    SrcPort = "sport", "Sport", 6, Left, Right;
    DstPort = "dport", "Dport", 6, Left, Right;
    Dir = "dir", "Dir", 5, Right, Right;
    SrcMac = "smac", "SrcMac", 18, Right, Right;
    DstMac = "dmac", "DstMac", 18, Right, Right;
    SrcVid = "svid", "sVid", 6, Right, Right;
    DstVid = "dvid", "dVid", 6, Right, Right;
    SrcVpri = "svpri", "sVpri", 6, Right, Right;
    DstVpri = "dvpri", "dVpri", 6, Right, Right;
    SrcVlan = "svlan", "sVlan", 8, Right, Right;
    DstVlan = "dvlan", "dVlan", 8, Right, Right;
    SrcMpls = "smpls", "sMpls", 8, Right, Right;
    DstMpls = "dmpls", "dMpls", 8, Right, Right;
    SrcTos = "stos", "sTos", 5, Right, Right;
    DstTos = "dtos", "dTos", 5, Right, Right;
    SrcTtl = "sttl", "sTtl", 4, Right, Right;
    DstTtl = "dttl", "dTtl", 4, Right, Right;
    SrcIpId = "sipid", "sIpId", 7, Right, Right;
    DstIpId = "dipid", "dIpId", 7, Right, Right;
    Pkts = "pkts", "TotPkts", 8, Right, Right;
    SrcPkts = "spkts", "SrcPkts", 8, Right, Right;
    DstPkts = "dpkts", "DstPkts", 8, Right, Right;
    Bytes = "bytes", "TotBytes", 10, Right, Right;
    SrcBytes = "sbytes", "SrcBytes", 12, Right, Right;
    DstBytes = "dbytes", "DstBytes", 12, Right, Right;
    AppBytes = "appbytes", "TotAppByte", 10, Right, Right;
    SrcAppBytes = "sappbytes", "SAppBytes", 12, Right, Right;
    DstAppBytes = "dappbytes", "DAppBytes", 12, Right, Right;
    Load = "load", "Load", 8, Right, Right;
    SrcLoad = "sload", "SrcLoad", 8, Right, Right;
    DstLoad = "dload", "DstLoad", 8, Right, Right;
    Rate = "rate", "Rate", 12, Right, Right;
    SrcRate = "srate", "SrcRate", 12, Right, Right;
    DstRate = "drate", "DstRate", 12, Right, Right;
    Pcr = "pcr", "PCRatio", 10, Right, Right;
    Loss = "loss", "Loss", 10, Right, Right;
    SrcLoss = "sloss", "SrcLoss", 10, Right, Right;
    DstLoss = "dloss", "DstLoss", 10, Right, Right;
    PLoss = "ploss", "pLoss", 8, Right, Right;
    SrcPLoss = "sploss", "pSrcLoss", 10, Right, Right;
    DstPLoss = "dploss", "pDstLoss", 10, Right, Right;
    Retrans = "retrans", "Retrans", 7, Right, Right;
    SrcRetrans = "sretrans", "SrcRetra", 8, Right, Right;
    DstRetrans = "dretrans", "DstRetra", 8, Right, Right;
    PRetrans = "pretrans", "pRetran", 7, Right, Right;
    SrcPRetrans = "spretrans", "pSrcRetr", 8, Right, Right;
    DstPRetrans = "dpretrans", "pDstRetr", 8, Right, Right;
    SrcTcpBase = "stcpb", "SrcTCPBase", 12, Right, Right;
    DstTcpBase = "dtcpb", "DstTCPBase", 12, Right, Right;
    SrcWin = "swin", "SrcWin", 6, Right, Right;
    DstWin = "dwin", "DstWin", 6, Right, Right;
    TcpRtt = "tcprtt", "TcpRtt", 12, Right, Right;
    SynAck = "synack", "SynAck", 12, Right, Right;
    AckDat = "ackdat", "AckDat", 12, Right, Right;
    TcpOpt = "tcpopt", "TcpOpt", 12, Left, Right;
    SrcGap = "sgap", "SrcGap", 8, Right, Right;
    DstGap = "dgap", "DstGap", 8, Right, Right;
    State = "state", "State", 5, Right, Right;
    Flgs = "flgs", "Flgs", 9, Left, Right;
    SrcIntPkt = "sintpkt", "SIntPkt", 12, Right, Right;
    DstIntPkt = "dintpkt", "DIntPkt", 12, Right, Right;
    SrcJitter = "sjit", "SrcJitter", 12, Right, Right;
    DstJitter = "djit", "DstJitter", 12, Right, Right;
    SrcIntPktMax = "sintpktmax", "SIntPktMax", 12, Right, Right;
    SrcIntPktMin = "sintpktmin", "SIntPktMin", 12, Right, Right;
    DstIntPktMax = "dintpktmax", "DIntPktMax", 12, Right, Right;
    DstIntPktMin = "dintpktmin", "DIntPktMin", 12, Right, Right;
    SrcMeanSz = "smeansz", "sMeanPktSz", 12, Right, Right;
    DstMeanSz = "dmeansz", "dMeanPktSz", 12, Right, Right;
    SrcMaxSz = "smaxsz", "sMaxPktSz", 12, Right, Right;
    SrcMinSz = "sminsz", "sMinPktSz", 12, Right, Right;
    DstMaxSz = "dmaxsz", "dMaxPktSz", 12, Right, Right;
    DstMinSz = "dminsz", "dMinPktSz", 12, Right, Right;
    SrcUser = "suser", "srcUdata", 25, Left, Center;
    DstUser = "duser", "dstUdata", 25, Left, Center;
}

/// `ra`'s default field list.
pub const DEFAULT_FIELDS: &[Field] = &[
    Field::StartTime,
    Field::Flgs,
    Field::Proto,
    Field::SrcAddr,
    Field::SrcPort,
    Field::Dir,
    Field::DstAddr,
    Field::DstPort,
    Field::Pkts,
    Field::Bytes,
    Field::State,
];

impl Field {
    /// Looks a field up by its Argus name.
    pub fn from_name(name: &str) -> Option<Field> {
        ALL_FIELDS.iter().copied().find(|f| f.name() == name)
    }

    /// Time fields whose width follows the precision (`-p`).
    pub(crate) fn is_time(self) -> bool {
        matches!(
            self,
            Field::StartTime
                | Field::LastTime
                | Field::SrcStartTime
                | Field::SrcLastTime
                | Field::DstStartTime
                | Field::DstLastTime
        )
    }

    /// The width at a given precision: time fields are `HH:MM:SS` plus the fraction.
    pub fn width_at(self, precision: usize) -> usize {
        if self.is_time() {
            self.default_width() - 6 + precision
        } else {
            self.default_width()
        }
    }
}

/// All field names, space separated (for error messages and `--help`).
pub fn field_names() -> String {
    let mut s = String::new();
    for (i, f) in ALL_FIELDS.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(f.name());
    }
    s
}
