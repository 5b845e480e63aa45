//! A TCP proxy that makes a server die and come back while its state survives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP proxy in front of a server that can be cut off: `down` closes the listener and every
/// open connection, exactly what a client sees when the server process dies; `up` listens again
/// on the same port. The server behind it keeps its state, so what the dying run left can be
/// inspected and a rerun can complete.
pub(crate) struct Proxy {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: &str) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream address");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let p = Proxy {
            rt,
            addr,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        p.serve(listener);
        p
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = self.rt.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        tokio::io::copy_bidirectional(&mut inbound, &mut out)
                            .await
                            .ok();
                    }
                });
                tasks.lock().expect("lock").push(conn.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// The server "dies": no listener, every connection dropped.
    pub(crate) fn down(&self) {
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
    }

    /// The server is back on the same address.
    pub(crate) fn up(&self) {
        let listener = self.rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match tokio::net::TcpListener::bind(self.addr).await {
                    Ok(l) => return l,
                    Err(e) if Instant::now() > deadline => panic!("rebind {}: {e}", self.addr),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        self.serve(listener);
    }
}
