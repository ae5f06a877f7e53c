//! Progress bars on a terminal (indicatif hides them when stderr is not
//! one, so scripts and logs stay clean).

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    bytes: bool,
}

impl Bar {
    pub fn new(bytes: bool) -> Bar {
        Bar {
            bar: Mutex::new(None),
            bytes,
        }
    }
}

impl weir_store::Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        let tpl = if self.bytes && (what == "objects" || what == "ingest") {
            "{msg:>8} [{bar:30}] {bytes}/{total_bytes} ({eta})"
        } else {
            "{msg:>8} [{bar:30}] {pos}/{len} ({eta})"
        };
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(tpl)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        *self.bar.lock().unwrap() = Some(b);
    }
    fn inc(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().unwrap() {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
}
