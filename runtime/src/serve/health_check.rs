//! `<gateway> --health-check`: the running gateway's own `/healthz`, asked by its binary.
//!
//! A distroless image has no shell and no curl, so a container `HEALTHCHECK` can only run
//! the gateway binary itself. It reads `GATEWAY_ADMIN_LISTEN` as the gateway does, sends
//! one HTTP/1.1 `GET /healthz` there and exits 0 on a 200, 1 otherwise. Blocking std I/O:
//! the probe starts no async runtime and no logging.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bounds each of connect, write and read; a container runtime's own timeout (Docker's
/// `--timeout`, 30 s by default) may be longer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The most of the answer read: the status line is all that counts.
const MAX_ANSWER: u64 = 4096;

/// Asks `GET /healthz` of the admin listener bound to `admin_listen` (an address as
/// `GATEWAY_ADMIN_LISTEN` takes it). `Ok` with the status line on a 200.
pub(crate) fn check(admin_listen: &str) -> Result<String, String> {
    let address = admin_listen
        .to_socket_addrs()
        .map_err(|error| format!("GATEWAY_ADMIN_LISTEN `{admin_listen}`: {error}"))?
        .next()
        .ok_or_else(|| format!("GATEWAY_ADMIN_LISTEN `{admin_listen}` names no address"))?;
    let address = reachable(address);
    let fail = |error: std::io::Error| format!("/healthz at {address}: {error}");
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(fail)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(fail)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(fail)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default().trim_end();
    match status.split(' ').nth(1) {
        Some("200") if status.starts_with("HTTP/1.") => {
            Ok(format!("/healthz at {address}: {status}"))
        }
        _ if status.is_empty() => Err(format!("/healthz at {address}: no answer")),
        _ => Err(format!("/healthz at {address}: {status}")),
    }
}

/// A listener bound to every address (`0.0.0.0`, `::`, as in a container) is reached on
/// the loopback address of its family.
fn reachable(address: SocketAddr) -> SocketAddr {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, address.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An admin listener that answers one request with `answer`, on a loopback port.
    fn answering(answer: &'static str) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).unwrap();
                request.push(byte[0]);
            }
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (address, server)
    }

    #[test]
    fn a_200_from_healthz_is_healthy() {
        let (address, server) = answering("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nalive\n");
        let status = check(&address.to_string()).unwrap();
        assert!(status.ends_with("HTTP/1.1 200 OK"), "{status}");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
    }

    #[test]
    fn another_status_or_no_answer_is_unhealthy() {
        let (address, _server) = answering("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = check(&address.to_string()).unwrap_err();
        assert!(
            error.ends_with("HTTP/1.1 503 Service Unavailable"),
            "{error}"
        );

        let (address, _server) = answering("");
        let error = check(&address.to_string()).unwrap_err();
        assert!(error.ends_with("no answer"), "{error}");

        let (address, _server) = answering("SSH-2.0-OpenSSH 200\r\n");
        assert!(check(&address.to_string()).is_err());
    }

    #[test]
    fn nothing_listening_or_a_bad_address_is_unhealthy() {
        // A port just freed: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(check(&format!("127.0.0.1:{port}")).is_err());
        let error = check("not an address").unwrap_err();
        assert!(
            error.starts_with("GATEWAY_ADMIN_LISTEN `not an address`"),
            "{error}"
        );
    }

    #[test]
    fn a_listener_on_every_address_is_asked_on_loopback() {
        assert_eq!(
            reachable("0.0.0.0:9090".parse().unwrap()),
            "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            reachable("[::]:9090".parse().unwrap()),
            "[::1]:9090".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            reachable("10.1.2.3:9090".parse().unwrap()),
            "10.1.2.3:9090".parse::<SocketAddr>().unwrap()
        );
    }
}
