//! systemd's notify protocol: `READY=1`, `RELOADING=1`, `STOPPING=1`, a one-line
//! `STATUS=`, and watchdog pings. Without `NOTIFY_SOCKET` every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("draining deliveries in flight"),
    ]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Half the watchdog interval systemd set, when it set one.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec) / 2)
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}
