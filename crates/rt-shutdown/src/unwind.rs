//! Panic payloads: the crate's one place that turns a caught panic into a message.

use std::any::Any;

/// The message a panic was raised with: the `&str` or `String` given to `panic!`, or a fixed
/// placeholder for any other payload.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic payload>")
}

#[cfg(test)]
mod tests {
    use super::payload_message;

    #[test]
    fn str_string_and_other_payloads() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        let str_payload = caught(|| panic!("static message"));
        let string_payload = caught(|| panic!("formatted {}", 42));
        let other_payload = caught(|| std::panic::panic_any(7_u8));
        assert_eq!(payload_message(str_payload.as_ref()), "static message");
        assert_eq!(payload_message(string_payload.as_ref()), "formatted 42");
        assert_eq!(
            payload_message(other_payload.as_ref()),
            "<non-string panic payload>"
        );
    }
}
