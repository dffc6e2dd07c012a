//! Panic payloads, in one place (rayon-core's `unwind.rs` model): the message a caught panic
//! is reported with, for endpoints and the worker's application task.

use std::any::Any;

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
    use super::panic_message;

    #[test]
    fn messages_of_str_string_and_other_payloads() {
        let caught = |f: fn()| {
            std::panic::catch_unwind(f)
                .err()
                .map(|p| panic_message(&*p))
        };
        assert_eq!(caught(|| panic!("static")), Some("static".to_owned()));
        assert_eq!(caught(|| panic!("row {}", 7)), Some("row 7".to_owned()));
        assert_eq!(
            caught(|| std::panic::panic_any(7u8)),
            Some("<non-string panic payload>".to_owned())
        );
    }
}
