//! An SMTP server the test starts: the server under test sends its mail to it over a real
//! SMTP conversation, and the test reads the links out of what arrived.

use std::{
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

use mailin_embedded::{response, Handler, Response, Server};

/// A message as it arrived.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    /// The whole message: headers and body, as sent.
    pub raw: String,
}

impl ReceivedMail {
    /// A message read from a file (the server's outbox).
    pub fn parse(raw: &str) -> Self {
        Self {
            to: Vec::new(),
            raw: raw.to_owned(),
        }
    }

    /// The token of the link in the message (after `token=`), with quoted-printable soft line
    /// breaks and escapes undone.
    pub fn token(&self) -> String {
        let text = quoted_printable(&self.raw);
        let start = text.find("token=").expect("a link with a token") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut chars = joined.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                out.push(char::from(byte));
                chars.next();
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[derive(Clone)]
struct Collector {
    to: Vec<String>,
    data: Vec<u8>,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = ReceivedMail {
            to: std::mem::take(&mut self.to),
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        };
        self.received.lock().unwrap().push(mail);
        response::OK
    }
}

/// A running sink; its thread ends with the test process.
pub struct MailSink {
    pub url: String,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl MailSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Collector {
            to: Vec::new(),
            data: Vec::new(),
            received: Arc::clone(&received),
        });
        server
            .with_name("sink.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { url, received }
    }

    /// Every message sent to `to` so far.
    pub fn sent_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|mail| mail.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .cloned()
            .collect()
    }

    /// Waits (up to ten seconds) for the `n`th message sent to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> ReceivedMail {
        for _ in 0..200 {
            if let Some(mail) = self.sent_to(to).get(n - 1) {
                return mail.clone();
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail number {n} to {to} arrived");
    }
}
