//! AF_XDP sockets over libc, following the kernel's
//! Documentation/networking/af_xdp.rst: a UMEM of fixed-size frames, its fill
//! and completion rings, and one RX ring, all mapped into this process.
//!
//! One [`Xsk`] serves one RX queue of one interface and is used by one thread.
//! Zero-copy is tried first (drivers such as ice, i40e, mlx5 offer it); where
//! the driver refuses (veth, generic XDP) the socket binds in copy mode, and
//! [`Xsk::zero_copy`] says which it got.

use ocellus_common::{XdpMeta, XDP_META_MAGIC};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// How to bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Zero-copy where the driver offers it, copy otherwise.
    Auto,
    /// Copy mode only.
    Off,
    /// Zero-copy or fail.
    Force,
}

/// Socket and UMEM sizes.
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    /// UMEM frames (each `frame_size` bytes).
    pub frames: u32,
    /// Frame size: 2048 or 4096.
    pub frame_size: u32,
    /// Entries in the fill and RX rings (a power of two).
    pub ring: u32,
    pub zero_copy: ZeroCopy,
    /// Busy-poll the socket (SO_BUSY_POLL) instead of sleeping in poll().
    pub busy_poll: bool,
    /// Poll mode: after a receive pass that found less than a full batch,
    /// sleep this long (µs) before the next one, so that frames accumulate
    /// in the RX ring and one pass (and one sleep) serves many of them
    /// instead of one poll() wakeup per frame or two. 0: poll again at once.
    /// Timestamps do not move: the XDP program stamps each frame.
    pub batch_wait_us: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frames: 16384,
            frame_size: 4096,
            ring: 8192,
            zero_copy: ZeroCopy::Auto,
            busy_poll: false,
            batch_wait_us: 200,
        }
    }
}

/// Why a socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    #[error("{what}: {err}")]
    Sys { what: &'static str, err: io::Error },
    #[error("bad AF_XDP sizes: {0}")]
    Config(String),
}

fn sys(what: &'static str) -> XskError {
    XskError::Sys {
        what,
        err: io::Error::last_os_error(),
    }
}

/// A mapped ring: producer and consumer indexes, flags, descriptors.
struct Ring {
    map: *mut libc::c_void,
    map_len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
    size: u32,
}

impl Ring {
    /// Maps the ring at page offset `pgoff` of `fd`.
    fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        desc_size: usize,
        pgoff: libc::off_t,
    ) -> Result<Ring, XskError> {
        let map_len = off.desc as usize + size as usize * desc_size;
        // SAFETY: mapping a kernel ring of the length the kernel's offsets give.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(sys("mmap of an AF_XDP ring"));
        }
        let base = map as *mut u8;
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS and lie inside the map.
        unsafe {
            Ok(Ring {
                map,
                map_len,
                producer: base.add(off.producer as usize) as *const AtomicU32,
                consumer: base.add(off.consumer as usize) as *const AtomicU32,
                flags: base.add(off.flags as usize) as *const AtomicU32,
                desc: base.add(off.desc as usize),
                mask: size - 1,
                size,
            })
        }
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping.
        unsafe { &*self.producer }
    }
    fn cons(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping.
        unsafe { &*self.consumer }
    }
    fn needs_wakeup(&self) -> bool {
        // SAFETY: points into the live mapping.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping what `map` mapped.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// The counters of `XDP_STATISTICS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Dropped for other reasons (e.g. no frame to receive into).
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    /// The RX ring was full: userspace fell behind.
    pub rx_ring_full: u64,
    /// The fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty: u64,
}

/// One AF_XDP socket bound to one queue, with its own UMEM.
pub struct Xsk {
    fd: OwnedFd,
    umem: *mut u8,
    umem_len: usize,
    frame_size: u32,
    fill: Ring,
    // Kept mapped: the kernel requires a completion ring with a UMEM.
    _comp: Ring,
    rx: Ring,
    free: Vec<u64>,
    pub zero_copy: bool,
    busy_poll: bool,
    batch_wait_us: u32,
}

// SAFETY: the rings and UMEM are owned by this value and used by one thread at
// a time; moving it to a worker thread is fine.
unsafe impl Send for Xsk {}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T, what: &'static str) -> Result<(), XskError> {
    // SAFETY: `v` is a valid T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(sys(what));
    }
    Ok(())
}

/// One received frame: the bytes and what the XDP program put in front of them.
pub struct Frame<'a> {
    pub data: &'a [u8],
    pub meta: Option<XdpMeta>,
}

impl Xsk {
    /// Creates a socket on `ifindex`/`queue`.
    pub fn new(ifindex: u32, queue: u32, cfg: &XskConfig) -> Result<Xsk, XskError> {
        if !cfg.ring.is_power_of_two() || cfg.ring < 64 {
            return Err(XskError::Config(format!(
                "ring size {} is not a power of two of at least 64",
                cfg.ring
            )));
        }
        if !matches!(cfg.frame_size, 2048 | 4096) {
            return Err(XskError::Config(format!(
                "frame size {} (use 2048 or 4096)",
                cfg.frame_size
            )));
        }
        if cfg.frames < cfg.ring || cfg.frames > 1 << 22 {
            return Err(XskError::Config(format!(
                "{} frames for {}-entry rings (use between the ring size and 4M)",
                cfg.frames, cfg.ring
            )));
        }
        let umem_len = cfg.frames as usize * cfg.frame_size as usize;
        // SAFETY: an anonymous shared mapping.
        let umem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                // Shared, not private: after `--daemon` forks, the child must
                // see the pages the kernel pinned and writes frames into (a
                // private mapping's pinned pages are copied for the child).
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(sys("mmap of the UMEM"));
        }
        // From here the UMEM is unmapped by `Umem` on error paths.
        struct Umem(*mut libc::c_void, usize);
        impl Drop for Umem {
            fn drop(&mut self) {
                // SAFETY: unmapping what was mapped above.
                unsafe { libc::munmap(self.0, self.1) };
            }
        }
        let guard = Umem(umem, umem_len);

        // SAFETY: plain socket creation.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(sys("socket(AF_XDP)"));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let reg = libc::xdp_umem_reg {
            addr: umem as u64,
            len: umem_len as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
        setsockopt(
            raw,
            libc::XDP_UMEM_FILL_RING,
            &cfg.ring,
            "XDP_UMEM_FILL_RING",
        )?;
        setsockopt(
            raw,
            libc::XDP_UMEM_COMPLETION_RING,
            &64u32,
            "XDP_UMEM_COMPLETION_RING",
        )?;
        setsockopt(raw, libc::XDP_RX_RING, &cfg.ring, "XDP_RX_RING")?;
        // SAFETY: zeroed plain-old-data for getsockopt to fill.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `off` has `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                &mut off as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return Err(sys("XDP_MMAP_OFFSETS"));
        }
        let fill = Ring::map(
            raw,
            &off.fr,
            cfg.ring,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
        )?;
        let comp = Ring::map(
            raw,
            &off.cr,
            64,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
        )?;
        let rx = Ring::map(
            raw,
            &off.rx,
            cfg.ring,
            std::mem::size_of::<libc::xdp_desc>(),
            libc::XDP_PGOFF_RX_RING,
        )?;

        let mut xsk = Xsk {
            fd,
            umem: umem as *mut u8,
            umem_len,
            frame_size: cfg.frame_size,
            fill,
            _comp: comp,
            rx,
            free: (0..cfg.frames as u64)
                .rev()
                .map(|i| i * cfg.frame_size as u64)
                .collect(),
            zero_copy: false,
            busy_poll: cfg.busy_poll,
            batch_wait_us: cfg.batch_wait_us,
        };
        std::mem::forget(guard); // owned by `xsk` now
        xsk.refill();

        let bind = |flags: u16| -> io::Result<()> {
            let sa = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: flags | libc::XDP_USE_NEED_WAKEUP,
                sxdp_ifindex: ifindex,
                sxdp_queue_id: queue,
                sxdp_shared_umem_fd: 0,
            };
            // SAFETY: a valid sockaddr_xdp of the size passed.
            let rc = unsafe {
                libc::bind(
                    raw,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        };
        match cfg.zero_copy {
            ZeroCopy::Off => bind(libc::XDP_COPY).map_err(|err| XskError::Sys {
                what: "bind (copy mode)",
                err,
            })?,
            ZeroCopy::Force => bind(libc::XDP_ZEROCOPY).map_err(|err| XskError::Sys {
                what: "bind (zero-copy)",
                err,
            })?,
            ZeroCopy::Auto => match bind(libc::XDP_ZEROCOPY) {
                Ok(()) => xsk.zero_copy = true,
                Err(_) => bind(libc::XDP_COPY).map_err(|err| XskError::Sys {
                    what: "bind (copy mode, after zero-copy was refused)",
                    err,
                })?,
            },
        }
        if cfg.zero_copy == ZeroCopy::Force {
            xsk.zero_copy = true;
        }
        if cfg.busy_poll {
            // Best effort: SO_PREFER_BUSY_POLL, SO_BUSY_POLL (µs), budget.
            for (opt, v) in [(69, 1), (libc::SO_BUSY_POLL, 20), (70, 64)] {
                let v: libc::c_int = v;
                // SAFETY: an int option.
                unsafe {
                    libc::setsockopt(
                        raw,
                        libc::SOL_SOCKET,
                        opt,
                        &v as *const _ as *const libc::c_void,
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
            }
        }
        Ok(xsk)
    }

    /// Entries the RX ring holds: the most one [`Xsk::receive`] pass can take.
    pub fn rx_size(&self) -> u32 {
        self.rx.size
    }

    /// [`XskConfig::batch_wait_us`] as configured.
    pub fn batch_wait_us(&self) -> u32 {
        self.batch_wait_us
    }

    /// Whether this socket busy-polls instead of sleeping.
    pub fn busy_poll(&self) -> bool {
        self.busy_poll
    }

    /// Moves free frames to the fill ring once the kernel has used a quarter
    /// of it (or it cannot be topped up further), so that the producer index
    /// the kernel reads on another CPU is written once per many frames; the
    /// kernel still holds three quarters of the ring meanwhile.
    fn refill(&mut self) {
        let prod = self.fill.prod().load(Ordering::Relaxed);
        let cons = self.fill.cons().load(Ordering::Acquire);
        let room = self.fill.size - prod.wrapping_sub(cons);
        if room < self.fill.size / 4 {
            return;
        }
        let n = (room as usize).min(self.free.len());
        if n == 0 {
            return;
        }
        for i in 0..n as u32 {
            let Some(addr) = self.free.pop() else { break };
            let slot = (prod.wrapping_add(i) & self.fill.mask) as usize;
            // SAFETY: slot < size; the fill ring holds u64 addresses.
            unsafe { (self.fill.desc as *mut u64).add(slot).write(addr) };
        }
        self.fill
            .prod()
            .store(prod.wrapping_add(n as u32), Ordering::Release);
    }

    /// Waits up to `timeout_ms` for frames (or spins once when busy polling).
    pub fn wait(&self, timeout_ms: i32) {
        if self.busy_poll {
            // SAFETY: a zero-length non-blocking receive drives the busy poll.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            return;
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    }

    /// Takes up to `max` received frames, calls `f` on each, then gives the
    /// frames back to the kernel. Returns how many there were.
    pub fn receive(&mut self, max: u32, mut f: impl FnMut(Frame<'_>)) -> u32 {
        let cons = self.rx.cons().load(Ordering::Relaxed);
        let prod = self.rx.prod().load(Ordering::Acquire);
        let n = prod.wrapping_sub(cons).min(max);
        let meta_len = std::mem::size_of::<XdpMeta>();
        for i in 0..n {
            let slot = (cons.wrapping_add(i) & self.rx.mask) as usize;
            // SAFETY: slot < size; the RX ring holds xdp_desc.
            let d: libc::xdp_desc =
                unsafe { (self.rx.desc as *const libc::xdp_desc).add(slot).read() };
            let addr = d.addr as usize;
            let len = d.len as usize;
            let chunk = addr - addr % self.frame_size as usize;
            if addr.saturating_add(len) <= self.umem_len && chunk < self.umem_len {
                // SAFETY: inside the UMEM, checked above; the kernel handed
                // this frame to us until we put it on the fill ring.
                let data = unsafe { std::slice::from_raw_parts(self.umem.add(addr), len) };
                let meta = if addr >= chunk + meta_len {
                    // SAFETY: the metadata lies in the same chunk, before the frame.
                    let p = unsafe { self.umem.add(addr - meta_len) };
                    // SAFETY: inside the chunk.
                    let m: XdpMeta = unsafe { (p as *const XdpMeta).read_unaligned() };
                    if m.magic == XDP_META_MAGIC {
                        // Clear it so stale bytes are never taken for a new block.
                        // SAFETY: the magic field inside the block read above.
                        unsafe {
                            (p.add(8) as *mut u32).write_unaligned(0);
                        }
                        Some(m)
                    } else {
                        None
                    }
                } else {
                    None
                };
                f(Frame { data, meta });
            }
            self.free.push(chunk as u64);
        }
        if n > 0 {
            self.rx
                .cons()
                .store(cons.wrapping_add(n), Ordering::Release);
        }
        self.refill();
        if self.fill.needs_wakeup() {
            // SAFETY: a zero-length non-blocking receive wakes the driver.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
        n
    }

    /// The socket's drop counters.
    pub fn stats(&self) -> Result<XskStats, XskError> {
        // SAFETY: zeroed plain-old-data for getsockopt.
        let mut s: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: `s` has `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                &mut s as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return Err(sys("XDP_STATISTICS"));
        }
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty: s.rx_fill_ring_empty_descs,
        })
    }
}

impl AsRawFd for Xsk {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // Rings unmap in their own Drop; the socket closes with `fd`.
        // SAFETY: unmapping the UMEM mapped in `new`.
        unsafe { libc::munmap(self.umem as *mut libc::c_void, self.umem_len) };
    }
}
