//! What a connection may take: slow headers and idle connections are closed, a body
//! that never comes is answered 408, and beyond `--max-connections` a new connection
//! is closed at once, while a normal client is served throughout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{applied, live};
use crate::harness::Daemon;

fn connect(daemon: &Daemon) -> TcpStream {
    let address = daemon.url.trim_start_matches("http://");
    TcpStream::connect(address).expect("connect")
}

/// Whether a read says the server is done with the connection (an answer, the end, an
/// error), rather than that nothing came yet.
fn ended(read: &std::io::Result<usize>) -> bool {
    !matches!(read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

/// Whether the server closed `stream`, waiting up to `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buffer = [0u8; 512];
    while started.elapsed() < within {
        if ended(&stream.read(&mut buffer)) {
            return Some(started.elapsed());
        }
    }
    None
}

#[test]
fn slow_headers_and_idle_connections_are_closed_while_others_are_served() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let slow: Vec<std::thread::JoinHandle<Option<Duration>>> = (0..20)
        .map(|_| {
            let mut stream = connect(&daemon);
            std::thread::spawn(move || {
                let started = Instant::now();
                stream
                    .set_read_timeout(Some(Duration::from_millis(900)))
                    .expect("timeout");
                for byte in b"GET /healthz HTTP/1.1\r\nHost: slow\r\n".iter().cycle() {
                    if started.elapsed() > Duration::from_secs(40) {
                        return None;
                    }
                    if stream.write_all(&[*byte]).is_err() {
                        return Some(started.elapsed());
                    }
                    let mut buffer = [0u8; 64];
                    if ended(&stream.read(&mut buffer)) {
                        return Some(started.elapsed());
                    }
                }
                None
            })
        })
        .collect();
    let mut idle = connect(&daemon);
    for _ in 0..5 {
        assert_eq!(
            daemon.get("/healthz").status,
            200,
            "a normal client is served meanwhile"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    for client in slow {
        let closed = client.join().expect("a slow client");
        assert!(
            closed.is_some(),
            "a client sending a byte a second was kept for 40 s"
        );
    }
    assert!(
        closed_within(&mut idle, Duration::from_secs(30)).is_some(),
        "an idle connection was kept"
    );
}

#[test]
fn a_body_that_never_comes_is_answered_408() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let mut stream = connect(&daemon);
    stream
        .write_all(
            b"POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
        )
        .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[test]
fn beyond_max_connections_a_new_one_is_closed_at_once() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--max-connections", "4"]);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&daemon)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect(&daemon);
    assert!(
        closed_within(&mut extra, Duration::from_secs(5)).is_some(),
        "the fifth connection was kept"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let metrics = daemon.get("/metrics");
    assert_eq!(metrics.status, 200, "served again once connections closed");
    let text = metrics.json.as_str().expect("text").to_owned();
    assert!(text.contains("hookwarden_connections_refused_total 1"), "{text}");
}
