//! Keys and values round-trip, and read what the reference runtime writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rt_discovery::{DiscoveryError, EndpointId, Instance, InstanceId, KeyLayout, Transport};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/reference_values.json");

#[test]
fn reference_values_and_keys_are_read() {
    let fixture: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    let layout = KeyLayout::new("");
    let mut seen = Vec::new();
    for entry in &fixture {
        let key = entry["key"].as_str().unwrap();
        let value = serde_json::to_vec(&entry["value"]).unwrap();
        let (endpoint, id) = layout.parse(key).unwrap();
        let instance = Instance::from_value(key, &value).unwrap();
        assert_eq!(instance.endpoint, endpoint, "{key}");
        assert_eq!(
            instance.id, id,
            "the key's hex id and the value's agree: {key}"
        );
        seen.push(instance.transport.clone());
    }
    assert_eq!(
        seen,
        [
            Transport::Http("http://10.0.0.5:8888/v1/rpc/generate".into()),
            Transport::Tcp("10.0.0.6:9999/generate".into()),
            Transport::NatsTcp("dynamo_prefill_worker.load-metrics-ff".into()),
        ]
    );
}

#[test]
fn written_values_have_the_reference_shape() {
    let ep = EndpointId::new("dynamo", "backend", "generate").unwrap();
    let instance = Instance::new(
        ep.clone(),
        InstanceId(7_587_888_163_049_570_566),
        Transport::Http("http://10.0.0.5:8888/v1/rpc/generate".into()),
    );
    let written: Value = serde_json::from_slice(&instance.to_value()).unwrap();
    let fixture: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(
        written, fixture[0]["value"],
        "same JSON as the reference writes"
    );
    assert_eq!(
        KeyLayout::new("").key_of(&instance),
        fixture[0]["key"].as_str().unwrap()
    );
    // And back.
    let key = KeyLayout::new("").key_of(&instance);
    assert_eq!(
        Instance::from_value(&key, &instance.to_value()).unwrap(),
        instance
    );
    // With metadata.
    let mut with = instance.clone();
    with.metadata = Some(serde_json::json!({"gpu": 2}));
    assert_eq!(Instance::from_value(&key, &with.to_value()).unwrap(), with);
}

#[test]
fn keys_round_trip_under_a_prefix_with_hex_ids() {
    for root in ["", "tests/run-1", "tests/run-1/"] {
        let layout = KeyLayout::new(root);
        for id in [0u64, 1, 0xabc, u64::MAX] {
            let ep = EndpointId::new("ns-1", "comp_2", "ep").unwrap();
            let key = layout.key(&ep, InstanceId(id));
            assert!(key.ends_with(&format!("/{id:x}")), "{key}");
            assert_eq!(layout.parse(&key).unwrap(), (ep, InstanceId(id)));
        }
    }
    assert_eq!(
        KeyLayout::new("t").key(&"a/b/c".parse().unwrap(), InstanceId(255)),
        "t/v1/instances/a/b/c/ff"
    );
}

#[test]
fn prefixes_match_on_a_path_boundary() {
    let layout = KeyLayout::new("");
    let backend: EndpointId = "ns/backend/generate".parse().unwrap();
    let backend2: EndpointId = "ns/backend2/generate".parse().unwrap();
    let key2 = layout.key(&backend2, InstanceId(1));
    assert!(!key2.starts_with(&layout.prefix(&backend)));
    let gen2: EndpointId = "ns/backend/generate2".parse().unwrap();
    assert!(!layout
        .key(&gen2, InstanceId(1))
        .starts_with(&layout.prefix(&backend)));
}

#[test]
fn bad_names_and_keys_are_refused() {
    for (ns, comp, ep, part) in [
        ("", "c", "e", "namespace"),
        ("n", "C", "e", "component"),
        ("n", "c", "e/x", "endpoint"),
        ("n", "c d", "e", "component"),
        ("n.x", "c", "e", "namespace"),
    ] {
        match EndpointId::new(ns, comp, ep) {
            Err(DiscoveryError::InvalidName { part: p, .. }) => assert_eq!(p, part),
            other => panic!("{ns}/{comp}/{ep}: {other:?}"),
        }
    }
    let layout = KeyLayout::new("");
    for key in [
        "v1/instances/a/b/c",
        "v1/instances/a/b/c/",
        "v1/instances/a/b/c/xyz",
        "v1/instances/a/b/c/+1",
        "v1/instances/a/b/c/d/1",
        "v1/mdc/a/b/c/1",
        "other/v1/instances/a/b/c/1",
        "v1/instances/a/b/c/12345678901234567",
    ] {
        assert!(layout.parse(key).is_err(), "{key}");
    }
    let err = Instance::from_value("k", b"{\"type\":\"Model\"}").unwrap_err();
    assert!(err.to_string().contains("DYN_DISCOVERY_PREFIX"), "{err}");
}
