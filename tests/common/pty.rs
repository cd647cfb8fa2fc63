//! A serial cable between two processes of one machine: two pseudo-terminal pairs whose master
//! ends this process joins, byte for byte both ways. Each side opens its slave end by path as
//! it would a real port (`/dev/pts/N`), with the settings it wants; the slave ends are also
//! held open here, so that a side closing and reopening its port does not end the cable.

use std::thread::JoinHandle;
use tokio_serial::{SerialPort, SerialStream};

/// The cable: `a` and `b` are the two ports' paths.
pub struct Cable {
    /// One end's port.
    pub a: String,
    /// The other end's port.
    pub b: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    relay: Option<JoinHandle<()>>,
}

impl Cable {
    /// Makes the two pairs and starts joining them.
    pub fn new() -> Cable {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (mut master_a, slave_a) = SerialStream::pair().unwrap();
                let (mut master_b, slave_b) = SerialStream::pair().unwrap();
                let names = (slave_a.name().unwrap(), slave_b.name().unwrap());
                ready_tx.send(names).unwrap();
                tokio::select! {
                    r = tokio::io::copy_bidirectional(&mut master_a, &mut master_b) => {
                        eprintln!("the pty cable ended: {r:?}");
                    }
                    _ = stopped => {}
                }
                drop((slave_a, slave_b));
            });
        });
        let (a, b) = ready_rx.recv().unwrap();
        Cable {
            a,
            b,
            stop: Some(stop),
            relay: Some(relay),
        }
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(relay) = self.relay.take() {
            let _ = relay.join();
        }
    }
}
