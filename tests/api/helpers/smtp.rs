//! A minimal SMTP server for tests: accepts every message and keeps its text, as delivered.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A minimal SMTP server that accepts every message and keeps its text.
pub async fn smtp_sink(listener: TcpListener, received: Arc<Mutex<Vec<String>>>) {
    smtp_sink_with(listener, received, 0, std::time::Duration::ZERO).await;
}

/// The same, except that the first `stalls` messages are kept but never answered (the sender
/// cannot tell whether they were delivered, as when it crashes mid-send), and every message is
/// acknowledged only after `delay` (a slow server).
pub async fn smtp_sink_with(
    listener: TcpListener,
    received: Arc<Mutex<Vec<String>>>,
    stalls: usize,
    delay: std::time::Duration,
) {
    let stalls = Arc::new(std::sync::atomic::AtomicUsize::new(stalls));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let received = received.clone();
        let stalls = stalls.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ready\r\n").await.ok();
            while let Ok(Some(line)) = lines.next_line().await {
                let command = line.to_ascii_uppercase();
                let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if command.starts_with("DATA") {
                    write.write_all(b"354 go ahead\r\n").await.ok();
                    let mut message = String::new();
                    while let Ok(Some(data)) = lines.next_line().await {
                        if data == "." {
                            break;
                        }
                        message.push_str(&data);
                        message.push('\n');
                    }
                    received.lock().unwrap().push(message);
                    let stall = stalls
                        .fetch_update(
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                            |n| n.checked_sub(1),
                        )
                        .is_ok();
                    if stall {
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(delay).await;
                    b"250 queued\r\n"
                } else if command.starts_with("QUIT") {
                    write.write_all(b"221 bye\r\n").await.ok();
                    return;
                } else {
                    b"250 ok\r\n"
                };
                write.write_all(reply).await.ok();
            }
        });
    }
}

/// A sink on a port of its own, serving in the background: what the three-line setup of a test
/// (bind, share the received list, spawn) amounts to.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:<port>`, for `email.smtp_url` or `SMTP_URL`.
    pub url: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    /// See `smtp_sink_with` for `stalls` and `delay`.
    pub async fn start(stalls: usize, delay: std::time::Duration) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let received = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(smtp_sink_with(listener, received.clone(), stalls, delay));
        SmtpSink { url, received }
    }

    /// The messages received so far, as received.
    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until at least `count` messages have arrived.
    pub async fn wait_for(&self, count: usize) {
        for _ in 0..2000 {
            if self.received.lock().unwrap().len() >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{count} messages never arrived: {}", self.messages().len());
    }
}
