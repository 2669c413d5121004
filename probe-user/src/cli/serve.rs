//! The serving options `probe -P` and `relay` share, and the record output
//! that feeds a server's hub.

use crate::flow::pipeline::{PipelineError, RecordOut};
use crate::record::FlowRecord;
use crate::remote::hub::{Hub, HubConfig};
use crate::remote::server::{ServeOptions, Server};
use crate::remote::RemoteError;
use crate::ring::RecordSink;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Serve records to remote readers on this TCP port (TLS unless --insecure).
    #[arg(short = 'P', long = "port", value_name = "PORT")]
    pub port: Option<u16>,
    /// Address to serve on (default 0.0.0.0; 127.0.0.1 with --insecure).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Server certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Users file: NAME token:TOKEN|cert-sha256:HEX [FILTER] per line.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Networks readers may connect from (ADDR[/LEN], repeatable; default any).
    #[arg(long, value_name = "NET")]
    pub allow: Vec<String>,
    /// Plain TCP instead of TLS; only on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Most readers connected at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_clients: usize,
    /// Records queued per reader; a reader that falls this far behind is cut off.
    #[arg(long, default_value_t = 8192, value_name = "N")]
    pub queue: usize,
    /// Records kept in memory for readers that ask for the backlog (--since);
    /// with -w DIR/ (a ring) the backlog is the ring on disk instead.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub backlog: usize,
    /// A reader that has not finished its handshake in this time is refused.
    #[arg(long, default_value = "5s", value_name = "DUR")]
    pub handshake_timeout: String,
    /// A reader whose socket takes nothing for this long is cut off.
    #[arg(long, default_value = "10s", value_name = "DUR")]
    pub write_timeout: String,
}

impl ServeArgs {
    /// Starts the server when -P is given.
    pub fn start(&self, who: &'static str) -> Result<Option<(Arc<Hub>, Server)>, RemoteError> {
        let Some(port) = self.port else {
            return Ok(None);
        };
        if self.max_clients == 0 || self.max_clients > 4096 {
            return Err(RemoteError::Config(
                "--max-clients: use between 1 and 4096".into(),
            ));
        }
        if self.queue == 0 || self.queue > 1 << 22 {
            return Err(RemoteError::Config(
                "--queue: use between 1 and 4194304 records".into(),
            ));
        }
        let bind = self.bind.unwrap_or(if self.insecure {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from([0, 0, 0, 0])
        });
        let mut o = ServeOptions::new(SocketAddr::new(bind, port));
        o.cert = self.tls_cert.clone();
        o.key = self.tls_key.clone();
        o.client_ca = self.client_ca.clone();
        o.users = self.users.clone();
        o.allow = self.allow.clone();
        o.insecure = self.insecure;
        o.max_clients = self.max_clients;
        o.handshake_timeout = crate::remote::parse_duration(&self.handshake_timeout)
            .map_err(|e| RemoteError::Config(format!("--handshake-timeout {e}")))?;
        o.write_timeout = crate::remote::parse_duration(&self.write_timeout)
            .map_err(|e| RemoteError::Config(format!("--write-timeout {e}")))?;
        let hub = Hub::new(
            HubConfig {
                queue: self.queue,
                backlog: self.backlog.min(1 << 24),
            },
            who,
        );
        let server = Server::start(&o, Arc::clone(&hub), who)?;
        Ok(Some((hub, server)))
    }
}

/// Writes records to a sink (if any), then publishes them to a hub with
/// their place in the sink when it is a ring (readers' backlogs then come
/// from the ring on disk).
pub(crate) struct HubOut {
    sink: Option<Box<dyn RecordSink + Send>>,
    hub: Arc<Hub>,
}

impl HubOut {
    pub(crate) fn new(sink: Option<Box<dyn RecordSink + Send>>, hub: Arc<Hub>) -> HubOut {
        if let Some(s) = &sink {
            if let Some((dir, id)) = s.ring_info() {
                hub.attach_ring(dir, id, s.ring_position());
            }
        }
        HubOut { sink, hub }
    }
}

impl RecordOut for HubOut {
    fn write_record(&mut self, rec: &FlowRecord) -> Result<(), PipelineError> {
        let mut pos = None;
        if let Some(s) = &mut self.sink {
            s.write(rec)
                .map_err(|e| PipelineError::Output(e.to_string()))?;
            pos = s.ring_position();
        }
        self.hub.publish_at(rec, pos);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), PipelineError> {
        match &mut self.sink {
            Some(s) => s.flush().map_err(|e| PipelineError::Output(e.to_string())),
            None => Ok(()),
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub(crate) fn wait_for_signal() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}
