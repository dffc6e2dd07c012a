//! Panic capture, in one place (rayon-core's `unwind.rs` model): every job of this crate runs
//! under [`halt_unwinding`], and a caught panic is either re-raised with
//! [`resume_unwinding`] (the macros) or reported by its [`panic_message`] (the async methods).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// A caught panic's payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Runs `f`, stopping a panic at this frame and handing back its payload.
///
/// `AssertUnwindSafe`: a panicking job's captures are dropped with it and never observed again
/// by the caller, which only receives the payload.
pub(crate) fn halt_unwinding<F, R>(f: F) -> Result<R, Payload>
where
    F: FnOnce() -> R,
{
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Continues a caught panic in the calling thread, with its original payload.
pub(crate) fn resume_unwinding(payload: Payload) -> ! {
    panic::resume_unwind(payload)
}

/// The message of a panic payload (a `&str` or `String` given to `panic!`); other payloads
/// read `<non-string panic payload>`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_str_string_and_other_payloads() {
        let caught = |f: fn()| halt_unwinding(f).err().map(|p| panic_message(&*p));
        assert_eq!(caught(|| panic!("static")), Some("static".to_owned()));
        assert_eq!(caught(|| panic!("row {}", 7)), Some("row 7".to_owned()));
        assert_eq!(
            caught(|| std::panic::panic_any(7u8)),
            Some("<non-string panic payload>".to_owned())
        );
        assert_eq!(caught(|| {}), None);
    }
}
