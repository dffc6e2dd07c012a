#![allow(missing_docs, clippy::unwrap_used)]
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use rt_compute::{ComputeConfig, ComputePool};

fn main() {
    let spin: u32 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(50);
    let workers: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let pool = Arc::new(ComputePool::new(ComputeConfig { num_threads: Some(2), bridge_spin_us: spin, ..Default::default() }).unwrap());
    let p = pool.clone();
    let mut v = rt.block_on(async move { tokio::spawn(async move {
        let mut v = Vec::new();
        for _ in 0..20000 { let t = Instant::now(); black_box(p.execute(|| black_box(1u64)+1).await.unwrap()); v.push(t.elapsed().as_nanos() as u64); }
        v
    }).await.unwrap() });
    v.sort();
    println!("spin={spin} workers={workers} p10={} median={} p90={} p99={}", v[v.len()/10], v[v.len()/2], v[v.len()*9/10], v[v.len()*99/100]);
}
