//! The record server: accepts readers (TLS by default), checks who they are
//! and where they come from, then streams them the hub's records through a
//! bounded queue. One thread per connection, at most `max_clients` of them.

use super::auth::{AllowList, Users};
use super::hub::{Hub, Want};
use super::proto::{Hello, Mark, Reply};
use super::{is_loopback, log, RemoteError};
use crate::filter::Filter;
use crate::record::{codec, FlowRecord};
use crate::ring::{RecordSource, RingPos, RingReader, SourceOptions};
use crossbeam_channel::RecvTimeoutError;
use std::io::{BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A server's options as the command line gives them.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Server certificate chain and key (PEM); required unless `insecure`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// CA of client certificates (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Users file (tokens, certificate fingerprints, per-user filters).
    pub users: Option<PathBuf>,
    /// Networks clients may connect from (empty: any).
    pub allow: Vec<String>,
    /// Plain TCP; refused unless `bind` is loopback.
    pub insecure: bool,
    pub max_clients: usize,
    pub handshake_timeout: Duration,
    /// A reader whose socket accepts nothing for this long is cut off.
    pub write_timeout: Duration,
}

impl ServeOptions {
    pub fn new(bind: SocketAddr) -> ServeOptions {
        ServeOptions {
            bind,
            cert: None,
            key: None,
            client_ca: None,
            users: None,
            allow: Vec::new(),
            insecure: false,
            max_clients: 64,
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of a server.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub disconnected: AtomicU64,
}

struct Ctx {
    tls: Option<Arc<rustls::ServerConfig>>,
    users: Option<Users>,
    cert_auth: bool,
    allow: AllowList,
    max_clients: usize,
    handshake_timeout: Duration,
    write_timeout: Duration,
    active: AtomicUsize,
    stop: AtomicBool,
    hub: Arc<Hub>,
    who: &'static str,
    stats: ServerStats,
}

/// A running server; dropping it does not stop it (see [`Server::stop`]).
pub struct Server {
    local: SocketAddr,
    ctx: Arc<Ctx>,
}

impl Server {
    /// Checks the options, binds, and starts accepting in a thread.
    pub fn start(
        opts: &ServeOptions,
        hub: Arc<Hub>,
        who: &'static str,
    ) -> Result<Server, RemoteError> {
        let users = opts.users.as_deref().map(Users::load).transpose()?;
        let tls = if opts.insecure {
            if !is_loopback(opts.bind.ip()) {
                return Err(RemoteError::Config(format!(
                    "--insecure serves plain TCP, which is only allowed on loopback; {} is not (use TLS: --cert and --key)",
                    opts.bind.ip()
                )));
            }
            None
        } else {
            let (Some(cert), Some(key)) = (&opts.cert, &opts.key) else {
                return Err(RemoteError::Config(
                    "serving records needs TLS: give --cert FILE and --key FILE (PEM), or --insecure on a loopback address".into(),
                ));
            };
            if opts.client_ca.is_none() && users.is_none() {
                return Err(RemoteError::Config(
                    "no way to authenticate readers: give --client-ca FILE (client certificates) and/or --users FILE (tokens)".into(),
                ));
            }
            Some(super::tls::server_config(
                cert,
                key,
                opts.client_ca.as_deref(),
                users.is_some(),
            )?)
        };
        let listener = TcpListener::bind(opts.bind).map_err(|e| RemoteError::Connect {
            addr: opts.bind.to_string(),
            source: e,
        })?;
        let local = listener.local_addr()?;
        let ctx = Arc::new(Ctx {
            tls,
            users,
            cert_auth: opts.client_ca.is_some() && !opts.insecure,
            allow: AllowList::parse(&opts.allow)?,
            max_clients: opts.max_clients.max(1),
            handshake_timeout: opts.handshake_timeout,
            write_timeout: opts.write_timeout,
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            hub,
            who,
            stats: ServerStats::default(),
        });
        let c = Arc::clone(&ctx);
        std::thread::Builder::new()
            .name("ocellus-accept".into())
            .spawn(move || accept_loop(listener, c))?;
        log(
            who,
            format_args!(
                "serving records on {local} ({})",
                if ctx.tls.is_some() {
                    "TLS"
                } else {
                    "plain TCP, --insecure"
                }
            ),
        );
        Ok(Server { local, ctx })
    }

    /// The address the server listens on (the port, when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stats(&self) -> &ServerStats {
        &self.ctx.stats
    }

    /// Connections being served now.
    pub fn active(&self) -> usize {
        self.ctx.active.load(Ordering::Relaxed)
    }

    /// Stops accepting; connected readers end within about a second.
    pub fn stop(&self) {
        self.ctx.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.local, Duration::from_millis(200));
    }
}

fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    for conn in listener.incoming() {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        let tcp = match conn {
            Ok(t) => t,
            Err(e) => {
                log(ctx.who, format_args!("accept failed: {e}"));
                // Out of descriptors and the like: do not spin.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let peer = match tcp.peer_addr() {
            Ok(p) => p,
            Err(_) => continue,
        };
        if !ctx.allow.allows(peer.ip()) {
            refuse_early(&ctx, peer, "address not in the allow-list");
            continue;
        }
        if ctx.active.fetch_add(1, Ordering::AcqRel) >= ctx.max_clients {
            ctx.active.fetch_sub(1, Ordering::AcqRel);
            refuse_early(
                &ctx,
                peer,
                &format!("too many clients (at most {})", ctx.max_clients),
            );
            continue;
        }
        let c = Arc::clone(&ctx);
        let spawned = std::thread::Builder::new()
            .name("ocellus-reader".into())
            .spawn(move || {
                let r = serve(tcp, peer, &c);
                c.active.fetch_sub(1, Ordering::AcqRel);
                c.stats.disconnected.fetch_add(1, Ordering::Relaxed);
                match r {
                    Ok(Some(why)) => log(c.who, format_args!("reader {peer}: disconnected: {why}")),
                    Ok(None) => {}
                    Err(why) => {
                        c.stats.refused.fetch_add(1, Ordering::Relaxed);
                        log(c.who, format_args!("reader {peer}: refused: {why}"));
                    }
                }
            });
        if let Err(e) = spawned {
            ctx.active.fetch_sub(1, Ordering::AcqRel);
            log(
                ctx.who,
                format_args!("reader {peer}: refused: no thread: {e}"),
            );
        }
    }
}

fn refuse_early(ctx: &Ctx, peer: SocketAddr, why: &str) {
    ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
    log(ctx.who, format_args!("reader {peer}: refused: {why}"));
}

/// Kernel send buffer per reader: bounded, so a reader that stops reading
/// fills its queue (and is cut off) instead of parking megabytes in the kernel.
const SEND_BUFFER: i32 = 256 << 10;

fn set_send_buffer(tcp: &TcpStream, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket descriptor and a pointer to an i32 of the
    // length given; failure only leaves the default size.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// Whether the reader closed its end (readers send nothing after the
/// hello, so a readable end of stream means it went away).
fn peer_closed(tcp: &TcpStream) -> bool {
    if tcp.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let closed = matches!(tcp.peek(&mut b), Ok(0));
    let _ = tcp.set_nonblocking(false);
    closed
}

/// A reader's connection, TLS or plain.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

/// Writes what TLS has ready to the socket. Only writes: rustls's own
/// `Stream` also reads whenever a write would block (it waits for the peer's
/// TLS messages), which turned one stalled write into a write timeout plus
/// a read timeout, twice over, before a stalled reader was cut off. Readers
/// send nothing after their hello, so the server never needs to read here.
fn push_tls(
    s: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
) -> std::io::Result<()> {
    while s.conn.wants_write() {
        if s.conn.write_tls(&mut s.sock)? == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => {
                // The socket's write timeout bounds each step: an error is
                // the reader's stall, and ends the connection.
                push_tls(s)?;
                let n = s.conn.writer().write(buf)?;
                push_tls(s)?;
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => {
                s.conn.writer().flush()?;
                push_tls(s)
            }
        }
    }
}

/// What a reader may see: its own filter and its user's, both must match.
struct Selection {
    client: Option<Filter>,
    user: Option<Filter>,
}

impl Selection {
    fn pass(&self, rec: &FlowRecord) -> bool {
        if rec.kind.is_man() {
            // Management records carry probe counters, no traffic.
            return self.user.is_none();
        }
        self.user.as_ref().is_none_or(|f| f.matches(rec))
            && self.client.as_ref().is_none_or(|f| f.matches(rec))
    }
}

/// Serves one reader. `Err` is a refusal (logged by the caller as such),
/// `Ok(Some)` the reason a served reader went away.
fn serve(tcp: TcpStream, peer: SocketAddr, ctx: &Ctx) -> Result<Option<String>, String> {
    let _ = tcp.set_nodelay(true);
    set_send_buffer(&tcp, SEND_BUFFER);
    tcp.set_read_timeout(Some(ctx.handshake_timeout))
        .and_then(|_| tcp.set_write_timeout(Some(ctx.handshake_timeout)))
        .map_err(|e| format!("socket: {e}"))?;
    let handle = tcp.try_clone().map_err(|e| format!("socket: {e}"))?;
    let mut fingerprint = None;
    let mut conn = match &ctx.tls {
        Some(cfg) => {
            let mut sc =
                rustls::ServerConnection::new(Arc::clone(cfg)).map_err(|e| format!("TLS: {e}"))?;
            let mut tcp = tcp;
            while sc.is_handshaking() {
                if let Err(e) = sc.complete_io(&mut tcp) {
                    let why = match e.kind() {
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                            format!("TLS handshake timed out after {:?}", ctx.handshake_timeout)
                        }
                        _ => format!("TLS handshake failed: {e}"),
                    };
                    let _ = tcp.shutdown(Shutdown::Both);
                    return Err(why);
                }
            }
            fingerprint = sc
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| super::tls::fingerprint(c));
            Conn::Tls(Box::new(rustls::StreamOwned::new(sc, tcp)))
        }
        None => Conn::Plain(tcp),
    };
    let stream_id = ctx.hub.stream_id();
    let refuse = |conn: &mut Conn, why: String| -> Result<Option<String>, String> {
        let _ = Reply {
            accepted: false,
            instance: ctx.hub.instance,
            stream: stream_id,
            message: why.clone(),
        }
        .write_to(conn);
        let _ = handle.shutdown(Shutdown::Both);
        Err(why)
    };
    let hello = match Hello::read_from(&mut conn) {
        Ok(h) => h,
        Err(e) => return refuse(&mut conn, format!("bad hello: {e}")),
    };
    // Who is it?
    let (user_name, user_filter) = if !hello.token.is_empty() {
        match ctx.users.as_ref().and_then(|u| u.by_token(&hello.token)) {
            Some(u) => (u.name.clone(), u.filter.clone()),
            None => return refuse(&mut conn, "unknown token".into()),
        }
    } else if let Some(fp) = &fingerprint {
        // rustls verified the chain against --client-ca.
        match ctx.users.as_ref().and_then(|u| u.by_cert(fp)) {
            Some(u) => (u.name.clone(), u.filter.clone()),
            None => (format!("cert:{}", &fp[..16.min(fp.len())]), None),
        }
    } else if ctx.tls.is_none() && ctx.users.is_none() {
        // --insecure on loopback without a users file: open.
        ("anonymous".to_string(), None)
    } else {
        let why = if ctx.cert_auth {
            "no credentials (neither a client certificate nor a token)"
        } else {
            "no token"
        };
        return refuse(&mut conn, why.into());
    };
    let client_filter = if hello.filter.trim().is_empty() {
        None
    } else {
        match Filter::parse(&hello.filter) {
            Ok(f) => Some(f),
            Err(e) => return refuse(&mut conn, format!("bad filter: {e}")),
        }
    };
    let sel = Selection {
        client: client_filter,
        user: user_filter,
    };
    let want = if hello.instance != 0 && hello.instance != stream_id {
        // Another stream (a restarted server without a ring, or another
        // ring): all its records are new to this client.
        Want {
            since_ns: u64::from(hello.since_ns > 0 || hello.resume_after.is_some()),
            after: None,
        }
    } else if hello.instance != 0 {
        Want {
            since_ns: hello.since_ns,
            after: hello.resume_after,
        }
    } else {
        Want {
            since_ns: hello.since_ns,
            after: None,
        }
    };
    let ok = Reply {
        accepted: true,
        instance: ctx.hub.instance,
        stream: stream_id,
        message: format!("welcome {user_name}"),
    };
    if let Err(e) = ok.write_to(&mut conn) {
        return Err(format!("writing the reply: {e}"));
    }
    let _ = handle.set_write_timeout(Some(ctx.write_timeout));
    ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
    log(
        ctx.who,
        format_args!(
            "reader {peer}: accepted as {user_name}{}",
            if hello.filter.is_empty() {
                String::new()
            } else {
                format!(", filter '{}'", hello.filter)
            }
        ),
    );
    let mut sub_id = None;
    let r = stream(conn, want, &sel, ctx, &handle, peer, &mut sub_id);
    let cut = sub_id.is_some_and(|id| !ctx.hub.unsubscribe_was_present(id));
    let _ = handle.shutdown(Shutdown::Both);
    Ok(match r {
        // The hub cut it off (too slow) and logged why.
        _ if cut => None,
        Ok(why) => Some(why),
        Err(e) => Some(e),
    })
}

/// The record stream as written to one reader: records, with a position
/// mark whenever the reader could not work out a record's position itself.
struct Out {
    w: BufWriter<Conn>,
    /// The position the reader holds (after the last record sent).
    cur: Option<RingPos>,
    scratch: Vec<u8>,
}

impl Out {
    fn send(&mut self, bytes: &[u8], pos: RingPos) -> std::io::Result<()> {
        let before = RingPos {
            generation: pos.generation,
            offset: pos.offset.saturating_sub(bytes.len() as u64),
        };
        if self.cur != Some(before) {
            self.w.write_all(&Mark::encode(before))?;
        }
        self.w.write_all(bytes)?;
        self.cur = Some(pos);
        Ok(())
    }

    /// Sends a record read from the ring (encoded again: the reader gets the
    /// record as this server understands it).
    fn send_rec(&mut self, rec: &FlowRecord, pos: RingPos) -> std::io::Result<()> {
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        codec::encode(rec, &mut b);
        let r = self.send(&b, pos);
        self.scratch = b;
        r
    }
}

/// Writes the record stream until the reader goes away, the hub cuts it off
/// or the server stops: the backlog wanted (from the ring on disk when the
/// hub has one, else from the hub's memory), then live records. With a
/// ring, the reader first reads the ring up to its committed end without
/// holding a queue, then subscribes; the subscription names the last record
/// published before it (the hand-off), the ring is read up to exactly that
/// record and the queue brings everything after it: no gap, nothing twice.
/// The subscription's id goes to `sub_id` as soon as there is one.
fn stream(
    conn: Conn,
    want: Want,
    sel: &Selection,
    ctx: &Ctx,
    tcp: &TcpStream,
    peer: SocketAddr,
    sub_id: &mut Option<u64>,
) -> Result<String, String> {
    let mut out = Out {
        w: BufWriter::with_capacity(64 << 10, conn),
        cur: None,
        scratch: Vec::with_capacity(4096),
    };
    let werr = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("stalled: accepted nothing for {:?}", ctx.write_timeout)
        }
        _ => format!("write failed: {e}"),
    };
    let mut header = Vec::with_capacity(codec::FILE_HEADER_LEN);
    codec::encode_file_header(super::now_ns(), 0, &mut header);
    out.w.write_all(&header).map_err(werr)?;
    let backlog_wanted = want.after.is_some() || want.since_ns > 0;
    let sub = match ctx.hub.ring() {
        Some(ring) if backlog_wanted => {
            let opts = SourceOptions::default();
            let opened = match want.after {
                Some(a) => RingReader::open_after(&ring.dir, opts, a),
                None => RingReader::open(&ring.dir, opts),
            };
            let mut reader = opened.map_err(|e| format!("reading the ring: {e}"))?;
            let mut rec = FlowRecord::default();
            let wanted = |rec: &FlowRecord| {
                want.after.is_some() || rec.ltime_ns >= want.since_ns || rec.ltime_ns == 0
            };
            let rerr = |e: crate::ring::RingError| format!("reading the ring: {e}");
            // Up to the committed end, holding no queue.
            let mut n = 0u64;
            while reader.next_into(&mut rec).map_err(rerr)? {
                let Some(pos) = reader.position() else { break };
                if wanted(&rec) && sel.pass(&rec) {
                    out.send_rec(&rec, pos).map_err(werr)?;
                }
                n += 1;
                if n.is_multiple_of(4096) && ctx.stop.load(Ordering::Relaxed) {
                    return Ok("server stopping".into());
                }
            }
            let sub = ctx.hub.subscribe(peer, tcp.try_clone().ok(), want);
            *sub_id = Some(sub.id);
            // The few written since, up to the hand-off.
            if let Some(handoff) = sub.handoff {
                while reader.position().is_none_or(|p| p < handoff) {
                    if !reader.next_into(&mut rec).map_err(rerr)? {
                        break;
                    }
                    let Some(pos) = reader.position() else { break };
                    if pos > handoff {
                        // Published after the subscription: it is queued.
                        break;
                    }
                    if wanted(&rec) && sel.pass(&rec) {
                        out.send_rec(&rec, pos).map_err(werr)?;
                    }
                }
            }
            let lost = reader.stats().segments_lost;
            if lost > 0 {
                log(
                    ctx.who,
                    format_args!(
                        "reader {peer}: {lost} ring segments were removed by retention before they were sent"
                    ),
                );
            }
            sub
        }
        _ => {
            let sub = ctx.hub.subscribe(peer, tcp.try_clone().ok(), want);
            *sub_id = Some(sub.id);
            if let (Some(after), Some(first)) = (want.after, sub.backlog.first()) {
                let before = first.pos.offset.saturating_sub(first.bytes.len() as u64);
                if first.pos.generation == after.generation && before > after.offset {
                    log(
                        ctx.who,
                        format_args!(
                            "reader {peer}: resumed past the oldest record kept (--backlog); some records were not sent"
                        ),
                    );
                }
            }
            for item in &sub.backlog {
                if sel.pass(&item.rec) {
                    out.send(&item.bytes, item.pos).map_err(werr)?;
                }
            }
            sub
        }
    };
    out.w.flush().map_err(werr)?;
    let handoff = sub.handoff;
    let backlog = sub.backlog;
    drop(backlog);
    let rx = sub.rx;
    let take = |out: &mut Out, item: &super::hub::Item| -> Result<(), String> {
        if handoff.is_some_and(|h| item.pos <= h) {
            // Already sent from the backlog (cannot happen: defensive).
            return Ok(());
        }
        if sel.pass(&item.rec) {
            out.send(&item.bytes, item.pos).map_err(werr)?;
        }
        Ok(())
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(item) => {
                take(&mut out, &item)?;
                // Drain what is queued, then flush once.
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(item) => take(&mut out, &item)?,
                        Err(_) => break,
                    }
                }
                out.w.flush().map_err(werr)?;
            }
            Err(RecvTimeoutError::Timeout) => {
                if ctx.stop.load(Ordering::Relaxed) {
                    return Ok("server stopping".into());
                }
                if peer_closed(tcp) {
                    return Ok("closed by the reader".into());
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok("cut off".into()),
        }
    }
}
