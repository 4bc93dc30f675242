//! The UI's connections, bounded, so that nothing a client does with sockets reaches the
//! scan: every open socket is a file descriptor the scan's journal and cell pictures
//! share, and a thousand clients that send half a request and wait once used them all.
//!
//! - A request's head must arrive within [`Limits::header_timeout`], and a kept-alive
//!   connection may wait no longer than that for its next request (hyper starts the same
//!   timer when the connection falls idle).
//! - A request, its body and its answer included, gets [`Limits::request_timeout`].
//! - At most [`Limits::max_connections`] are open, of which [`Limits::loopback_reserve`]
//!   only loopback (the board's own screen) may use. When a newcomer finds no room, the
//!   oldest connection that is waiting for a request (idle, or still sending its head) is
//!   closed to make some: such a client loses nothing but a reconnection, whereas refusing
//!   the newcomer would let whoever filled the slots first keep everyone else out. Only
//!   when every connection is in the middle of a request is the newcomer closed at once.
//! - The cap is at most a quarter of the process's open-file limit, which
//!   [`raise_open_file_limit`] lifts to its hard maximum at start.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

use super::reply::error;

/// How long the accept loop rests after a failed accept (most likely out of file
/// descriptors), so that it does not spin while the kernel keeps the connection queued.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The bounds on the UI's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Of those, how many are kept for loopback clients (the board's own screen).
    pub loopback_reserve: usize,
    /// Longest a client may take to send a request's head, and longest a kept-alive
    /// connection stays open waiting for the next one.
    pub header_timeout: Duration,
    /// Longest one request may take, its body and the handler included.
    pub request_timeout: Duration,
}

impl Default for Limits {
    /// 128 connections (a clinic has a few tablets, and a browser opens at most six to one
    /// server), 32 of them for the board's screen; 10 s for a request's head (a phone on
    /// poor Wi-Fi needs well under one); 60 s for a request (a token check may wait its
    /// turn for 30 s).
    fn default() -> Self {
        Limits {
            max_connections: 128,
            loopback_reserve: 32,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// These limits with the cap at most a quarter of `open_files` (the soft
    /// RLIMIT_NOFILE), and the reserve at most half the cap, so that the scan always has
    /// most descriptors to itself.
    pub fn within(self, open_files: u64) -> Limits {
        let quarter = usize::try_from(open_files / 4).unwrap_or(usize::MAX);
        let max_connections = self.max_connections.min(quarter).max(2);
        Limits {
            max_connections,
            loopback_reserve: self.loopback_reserve.min(max_connections / 2),
            ..self
        }
    }
}

/// Lifts the soft limit on open files to the hard one and returns it (the soft limit as
/// it was, where it cannot be read or lifted). systemd starts services at 1024, a number
/// chosen for `select(2)`, which nothing here uses.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return u64::MAX;
    };
    // An unlimited hard limit is left alone: the kernel caps descriptors at nr_open anyway.
    match limit.maximum {
        Some(maximum) if maximum > current => {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                maximum
            } else {
                current
            }
        }
        _ => current,
    }
}

/// One open connection, as the registry knows it.
#[derive(Debug)]
struct Entry {
    loopback: bool,
    /// In the middle of a request (its head read, its answer not yet ready).
    busy: bool,
    close: Arc<Notify>,
}

/// The open connections, oldest first (ids only grow).
#[derive(Debug)]
pub struct Registry {
    limits: Limits,
    open: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

impl Registry {
    /// An empty registry under `limits`.
    pub fn new(limits: Limits) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            open: Mutex::new((0, BTreeMap::new())),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, Entry>)> {
        // A panic elsewhere leaves the map consistent: every change is one insert or remove.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().1.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for a new connection from loopback or not, made by closing the oldest one
    /// waiting for a request if need be; `None` when every one is busy.
    pub fn admit(self: &Arc<Self>, loopback: bool) -> Option<Slot> {
        let mut guard = self.lock();
        let (next, open) = &mut *guard;
        let network = open.values().filter(|e| !e.loopback).count();
        let network_full = !loopback
            && network
                >= self
                    .limits
                    .max_connections
                    .saturating_sub(self.limits.loopback_reserve);
        if network_full || open.len() >= self.limits.max_connections {
            // A network newcomer over the network's share must displace a network
            // connection: closing the screen's would not make it room.
            let victim = open
                .iter()
                .find(|(_, e)| !(e.busy || (network_full && e.loopback)))
                .map(|(&id, _)| id)?;
            if let Some(entry) = open.remove(&victim) {
                entry.close.notify_one();
            }
        }
        let id = *next;
        *next += 1;
        let close = Arc::new(Notify::new());
        open.insert(
            id,
            Entry {
                loopback,
                busy: false,
                close: close.clone(),
            },
        );
        Some(Slot {
            id,
            registry: self.clone(),
            close,
        })
    }

    fn set_busy(&self, id: u64, busy: bool) {
        if let Some(entry) = self.lock().1.get_mut(&id) {
            entry.busy = busy;
        }
    }

    /// Closes every connection (the server is stopping).
    fn close_all(&self) {
        for (_, entry) in std::mem::take(&mut self.lock().1) {
            entry.close.notify_one();
        }
    }
}

/// A connection's place in the registry; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    registry: Arc<Registry>,
    close: Arc<Notify>,
}

impl Slot {
    /// Marks the connection busy until the returned guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.registry.set_busy(self.id, true);
        Busy(self)
    }

    /// Resolves when the registry closes this connection to make room.
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().1.remove(&self.id);
    }
}

/// A connection in the middle of a request, not to be closed to make room.
#[derive(Debug)]
pub struct Busy<'a>(&'a Slot);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.registry.set_busy(self.0.id, false);
    }
}

/// Accepts connections on `listener` for `app` under the registry's limits until
/// `shutdown` fires (or its sender is dropped), then closes them all: the handlers write
/// their files without awaiting anything, so a dropped request never leaves one half-done.
pub async fn accept(
    listener: TcpListener,
    app: Router,
    registry: Arc<Registry>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(ACCEPT_PAUSE).await;
            continue;
        };
        // No room: dropping the stream closes it at once.
        let Some(slot) = registry.admit(peer.ip().is_loopback()) else {
            continue;
        };
        tokio::spawn(connection(stream, peer, app.clone(), slot, registry.limits));
    }
    registry.close_all();
}

/// Serves one connection until it ends, times out, or is closed to make room.
async fn connection(stream: TcpStream, peer: SocketAddr, app: Router, slot: Slot, limits: Limits) {
    let slot = Arc::new(slot);
    let service = hyper::service::service_fn({
        let slot = slot.clone();
        move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let (app, slot) = (app.clone(), slot.clone());
            async move {
                let _busy = slot.busy();
                let answer = tokio::time::timeout(limits.request_timeout, app.oneshot(request));
                Ok::<_, Infallible>(match answer.await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => error(
                        StatusCode::REQUEST_TIMEOUT,
                        format!(
                            "the request took over {} s",
                            limits.request_timeout.as_secs()
                        ),
                    ),
                })
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let serving = http.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = serving => {}
        _ = slot.closed() => {}
    }
}

#[cfg(test)]
mod tests;
