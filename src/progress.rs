//! A progress bar on standard error, shown only when it is a terminal.

use std::io::IsTerminal;

/// A callback drawing `[####    ] done/total` on a terminal, and doing nothing otherwise.
pub fn bar() -> impl Fn(usize, usize) + Send + Sync + 'static {
    let terminal = std::io::stderr().is_terminal();
    move |done, total| {
        if terminal {
            let width = 40;
            let filled = done * width / total.max(1);
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    }
}
