//! A TCP proxy in front of PostgreSQL that a test can cut and restore, to play a database
//! outage without touching the real server.

use std::{cell::RefCell, rc::Rc};

use actix_web::rt::task::JoinHandle;
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    up: Rc<RefCell<bool>>,
    links: Rc<RefCell<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Rc::new(RefCell::new(true));
        let links = Rc::new(RefCell::new(Vec::new()));
        let accept = actix_web::rt::spawn({
            let (up, links) = (Rc::clone(&up), Rc::clone(&links));
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !*up.borrow() {
                        continue; // dropped: the connection is closed at once
                    }
                    let target = target.clone();
                    links.borrow_mut().push(actix_web::rt::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            }
        });
        Self {
            port,
            up,
            links,
            accept,
        }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        *self.up.borrow_mut() = false;
        for link in self.links.borrow_mut().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        *self.up.borrow_mut() = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
