//! The backend contract on the memory backend (the etcd backend runs it in `etcd.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use rt_discovery::{Backend, KeyLayout, KvEvent, MemoryBackend, StaticBackend};

#[tokio::test]
async fn memory_backend_keeps_the_contract() {
    common::contract(Arc::new(MemoryBackend::new()), "").await;
    common::contract(Arc::new(MemoryBackend::new()), "tests/root/").await;
}

#[tokio::test]
async fn static_backend_lists_its_instances_and_ignores_writes() {
    let layout = KeyLayout::new("");
    let backend = StaticBackend::from_list(
        &layout,
        "ns/backend/generate=http://127.0.0.2:8001/rpc,http://127.0.0.3:8002/rpc; ns/other/x=http://h:1",
    )
    .unwrap();
    let ep = "ns/backend/generate".parse().unwrap();
    let mut watch = backend.watch(layout.prefix(&ep)).await.unwrap();
    match common::next(&mut watch).await {
        KvEvent::Snapshot(entries) => assert_eq!(entries.len(), 2),
        other => panic!("{other:?}"),
    }
    // Same list, same ids, in every process.
    let again =
        StaticBackend::from_list(&layout, "ns/backend/generate=http://127.0.0.2:8001/rpc").unwrap();
    assert_eq!(again.instances()[0].id, backend.instances()[0].id);
    let lease = backend
        .grant(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert!(backend
        .create("k".into(), b"v".to_vec(), lease.id)
        .await
        .unwrap());
    assert!(backend.keep_alive(lease.id).await.unwrap() > std::time::Duration::ZERO);

    for bad in [
        "ns/backend/generate",
        "ns/Backend/g=http://h:1",
        "a/b/c=ftp://h",
    ] {
        let err = StaticBackend::from_list(&layout, bad).unwrap_err();
        assert!(!err.to_string().is_empty(), "{bad}");
    }
}
