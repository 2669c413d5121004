//! Loading the XDP program, attaching it, and reading its counters.
//!
//! The object is built by `cargo xtask build-ebpf` and embedded at compile
//! time by `build.rs`; a build without it still works, and `--capture xdp`
//! then says how to get it.

use super::LiveError;
use aya::maps::{Array, MapData, PerCpuArray, XskMap};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use ocellus_common::{kfilter, xdp_stat, XDP_PROG_NAME};
use std::os::fd::AsRawFd;
use std::process::Command;

#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static OBJECT: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/ocellus-xdp.o")));

/// Whether this build carries the XDP program.
pub fn object_present() -> bool {
    !OBJECT.0.is_empty()
}

/// How to attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) mode.
    Drv,
    /// Generic (skb) mode: works everywhere, sees offloaded super-packets.
    Skb,
    /// Native, else generic.
    Auto,
}

/// The per-CPU counters of the XDP program, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub seen: u64,
    pub redirected: u64,
    pub filtered: u64,
    pub malformed: u64,
    pub redirect_fail: u64,
    pub keyed: u64,
    pub no_meta: u64,
}

/// The kernel filter program as a map value.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct FilterValue(kfilter::Program);

// SAFETY: `kfilter::Program` is repr(C), Copy, with explicit padding and no
// pointers.
unsafe impl aya::Pod for FilterValue {}

/// The program loaded for one interface, then attached to it
/// ([`XdpAttachment::load`], sockets in with [`XdpAttachment::add_socket`],
/// then [`XdpAttachment::attach_loaded`]). Dropping it detaches the program.
pub struct XdpAttachment {
    pub iface: String,
    pub ifindex: u32,
    /// The mode it attached in (`Drv` or `Skb`; `Auto` until attached).
    pub mode: AttachMode,
    ebpf: Ebpf,
    xsks: XskMap<MapData>,
    link: Option<XdpLinkId>,
    /// The counters map, taken out of `ebpf` so that reading it needs no
    /// lookup by name (and works after privileges are dropped: the fd was
    /// opened as root).
    stats: Option<PerCpuArray<MapData, u64>>,
}

/// The interface index of `name`, or a clear error.
pub fn ifindex(name: &str) -> Result<u32, LiveError> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| LiveError::Interface(format!("bad interface name {name:?}")))?;
    // SAFETY: a valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(LiveError::Interface(format!("no interface named {name:?}")));
    }
    Ok(i)
}

/// The XDP program already on `iface`, as (id, name), from `ip -d -j link`.
fn attached_program(iface: &str) -> Option<(u64, String)> {
    let out = Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", iface])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let prog = v.get(0)?.get("xdp")?.get("prog")?;
    let id = prog.get("id")?.as_u64()?;
    let name = prog
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    Some((id, name))
}

/// Removes a stale ocellus program left on `iface` by a probe that was killed
/// (only a legacy netlink attachment can outlive its process); refuses to touch
/// anybody else's program.
fn clear_stale(iface: &str) -> Result<(), LiveError> {
    let Some((id, name)) = attached_program(iface) else {
        return Ok(());
    };
    if name != XDP_PROG_NAME {
        return Err(LiveError::Xdp(format!(
            "{iface} already has XDP program {name:?} (id {id}) attached by someone else; not replacing it"
        )));
    }
    eprintln!("ocellus probe: replacing a stale ocellus XDP program (id {id}) on {iface}");
    for mode in ["xdp", "xdpgeneric", "xdpdrv"] {
        let _ = Command::new("ip")
            .args(["link", "set", "dev", iface, mode, "off"])
            .output();
    }
    if let Some((id, _)) = attached_program(iface) {
        return Err(LiveError::Xdp(format!(
            "{iface}: the ocellus XDP program (id {id}) is held by a running probe; stop it first"
        )));
    }
    Ok(())
}

impl XdpAttachment {
    /// Loads the program and attaches it to `iface` at once (no socket is in
    /// its map yet: frames that come first are redirect failures).
    pub fn attach(iface: &str, mode: AttachMode) -> Result<XdpAttachment, LiveError> {
        let mut a = XdpAttachment::load(iface, None)?;
        a.attach_loaded(mode)?;
        Ok(a)
    }

    /// Loads the program for `iface` (checked by the verifier) with the
    /// kernel filter `filter`, without attaching it: the sockets go into its
    /// map first, so no frame meets an empty slot.
    pub fn load(
        iface: &str,
        filter: Option<&kfilter::Program>,
    ) -> Result<XdpAttachment, LiveError> {
        if !object_present() {
            return Err(LiveError::Xdp(super::no_object_message().into()));
        }
        let ifindex = ifindex(iface)?;
        clear_stale(iface)?;
        let mut ebpf =
            Ebpf::load(&OBJECT.0).map_err(|e| LiveError::Xdp(format!("loading: {e}")))?;
        if let Some(f) = filter {
            let mut m: Array<_, FilterValue> =
                Array::try_from(ebpf.map_mut("OCELLUS_FILTER").ok_or_else(|| {
                    LiveError::Xdp("the object has no OCELLUS_FILTER map".into())
                })?)
                .map_err(|e| LiveError::Xdp(format!("OCELLUS_FILTER: {e}")))?;
            m.set(0, FilterValue(*f), 0)
                .map_err(|e| LiveError::Xdp(format!("OCELLUS_FILTER[0]: {e}")))?;
        }
        let prog: &mut Xdp = ebpf
            .program_mut(XDP_PROG_NAME)
            .ok_or_else(|| LiveError::Xdp(format!("the object has no program {XDP_PROG_NAME}")))?
            .try_into()
            .map_err(|e| LiveError::Xdp(format!("{e}")))?;
        prog.load()
            .map_err(|e| LiveError::Xdp(format!("the verifier refused the program: {e:?}")))?;
        let xsks = XskMap::try_from(
            ebpf.take_map("OCELLUS_XSKS")
                .ok_or_else(|| LiveError::Xdp("the object has no OCELLUS_XSKS map".into()))?,
        )
        .map_err(|e| LiveError::Xdp(format!("OCELLUS_XSKS: {e}")))?;
        let stats = ebpf
            .take_map("OCELLUS_STATS")
            .and_then(|m| PerCpuArray::try_from(m).ok());
        Ok(XdpAttachment {
            iface: iface.to_string(),
            ifindex,
            mode: AttachMode::Auto,
            ebpf,
            xsks,
            link: None,
            stats,
        })
    }

    /// Attaches the loaded program to the interface.
    pub fn attach_loaded(&mut self, mode: AttachMode) -> Result<(), LiveError> {
        let iface = self.iface.clone();
        let ifindex = self.ifindex;
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(XDP_PROG_NAME)
            .ok_or_else(|| LiveError::Xdp(format!("the object has no program {XDP_PROG_NAME}")))?
            .try_into()
            .map_err(|e| LiveError::Xdp(format!("{e}")))?;
        let tries: &[(AttachMode, XdpMode)] = match mode {
            AttachMode::Drv => &[(AttachMode::Drv, XdpMode::Driver)],
            AttachMode::Skb => &[(AttachMode::Skb, XdpMode::Skb)],
            AttachMode::Auto => &[
                (AttachMode::Drv, XdpMode::Driver),
                (AttachMode::Skb, XdpMode::Skb),
            ],
        };
        let mut why = Vec::new();
        for &(m, xm) in tries {
            match prog.attach_to_if_index(ifindex, xm) {
                Ok(link) => {
                    self.mode = m;
                    self.link = Some(link);
                    return Ok(());
                }
                Err(e) => why.push(format!("{m:?}: {e}")),
            }
        }
        Err(LiveError::Xdp(format!(
            "cannot attach to {iface}: {}",
            why.join("; ")
        )))
    }

    /// Detaches the program (its maps stay readable).
    pub fn detach(&mut self) {
        let Some(link) = self.link.take() else {
            return;
        };
        if let Some(Ok(prog)) = self
            .ebpf
            .program_mut(XDP_PROG_NAME)
            .map(<&mut Xdp>::try_from)
        {
            let _ = prog.detach(link);
        }
    }

    /// Directs frames of RX queue `queue` to the socket `fd`.
    pub fn add_socket(&mut self, queue: u32, fd: &impl AsRawFd) -> Result<(), LiveError> {
        self.xsks
            .set(queue, fd.as_raw_fd(), 0)
            .map_err(|e| LiveError::Xdp(format!("OCELLUS_XSKS[{queue}]: {e}")))
    }

    /// The program's counters, summed over CPUs.
    pub fn stats(&self) -> KernelStats {
        let mut s = KernelStats::default();
        let Some(arr) = &self.stats else {
            return s;
        };
        let sum = |i: u32| -> u64 {
            arr.get(&i, 0)
                .map(|v| v.iter().copied().fold(0u64, u64::wrapping_add))
                .unwrap_or(0)
        };
        s.seen = sum(xdp_stat::SEEN);
        s.redirected = sum(xdp_stat::REDIRECTED);
        s.filtered = sum(xdp_stat::FILTERED);
        s.malformed = sum(xdp_stat::MALFORMED);
        s.redirect_fail = sum(xdp_stat::REDIRECT_FAIL);
        s.keyed = sum(xdp_stat::KEYED);
        s.no_meta = sum(xdp_stat::NO_META);
        s
    }
}

/// The RX queues of `iface` (from sysfs), at least 1.
pub fn rx_queues(iface: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}
