#![cfg(loom)]
#[test]
fn probe() { loom::model(|| {}); }
