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
