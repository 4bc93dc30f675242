//! Guessing the access token made slow, per client rather than per connection: every
//! failed check costs its client [`FAILURE_COST`], and a client that failed lately waits
//! for its own turn before its next token is even compared, so a hundred connections
//! guess no faster than one. A check that passes forgives the client.
//!
//! A client is an IPv4 address or an IPv6 /64 (what one host usually holds). A client
//! whose turn is more than [`MAX_WAIT`] away is refused at once, unchecked, so a flood of
//! guesses does not hold connections for minutes. Clients are remembered only while they
//! owe time; past [`MAX_CLIENTS`] of them (many addresses guessing at once), newcomers
//! share one turn.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What one failed check costs its client.
pub const FAILURE_COST: Duration = Duration::from_secs(1);

/// The longest a client is made to wait for its turn; beyond it, it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Most clients remembered apart.
pub const MAX_CLIENTS: usize = 4096;

/// When a client's token may be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// At once: the client has not failed lately.
    Now,
    /// At this instant, reserved for this check.
    At(Instant),
    /// Not now: the client owes more than [`MAX_WAIT`].
    Refused,
}

/// The clients that failed lately, with the time each one's next check may be made.
#[derive(Debug, Default)]
pub struct Throttle {
    next_turn: Mutex<HashMap<IpAddr, Instant>>,
}

impl Throttle {
    /// The turn of `client`'s next check: reserved when it owes time, so that checks
    /// sent together are compared one [`FAILURE_COST`] apart.
    pub fn turn(&self, client: IpAddr) -> Turn {
        let now = Instant::now();
        let mut clients = self.clients();
        let key = key_of(client, &clients);
        match clients.get_mut(&key) {
            Some(next) if *next > now => {
                if *next - now > MAX_WAIT {
                    return Turn::Refused;
                }
                let turn = *next;
                *next += FAILURE_COST;
                Turn::At(turn)
            }
            _ => Turn::Now,
        }
    }

    /// A failed check of `client`: it owes [`FAILURE_COST`] more. Returns when the
    /// refusal may be answered (its next turn), so that even one connection's guesses
    /// come back no faster than one a [`FAILURE_COST`].
    pub fn failed(&self, client: IpAddr) -> Instant {
        let now = Instant::now();
        let mut clients = self.clients();
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, next| *next > now);
        }
        let key = key_of(client, &clients);
        let next = clients.entry(key).or_insert(now);
        *next = (*next).max(now + FAILURE_COST);
        *next
    }

    /// A passed check of `client`: it owes nothing.
    pub fn passed(&self, client: IpAddr) {
        let mut clients = self.clients();
        let key = key_of(client, &clients);
        clients.remove(&key);
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        // The map holds only instants: one left by a panicking holder is still usable.
        self.next_turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where `client` is remembered: its IPv4 address or its IPv6 /64, or the shared place of
/// newcomers when [`MAX_CLIENTS`] are remembered already.
fn key_of(client: IpAddr, clients: &HashMap<IpAddr, Instant>) -> IpAddr {
    let key = match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    };
    if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        key
    }
}

#[cfg(test)]
mod tests;
