//! `tools::list` scenarios.

use super::*;

on_both_backends!(list_sizes_are_exact);

async fn list_sizes_are_exact(env: Env) {
    let storage = &env.storage;
    assert!(tools::list(storage).await.unwrap().is_empty());
    history(storage).await;
    let s = sizes(storage).await;
    let (m1, m2, m3) = ("chk-1/_metadata", "chk-2/_metadata", "chk-3/_metadata");
    let (p1, p2, p3, p4) = ("chk-1/op-window-0.state", "chk-2/op-window-0.state", "chk-3/op-window-0.state", "chk-4/op-window-0.state");
    let got: Vec<_> = tools::list(storage)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.complete, c.trigger_time_ms, c.full_size, c.incremental_size))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, true, Some(1_000), Some(sum(&s, &[m1, p1, A, B])), sum(&s, &[m1, p1, A, B])),
            (2, true, Some(2_000), Some(sum(&s, &[m2, p2, A, C])), sum(&s, &[m2, p2, C])),
            (3, true, Some(3_000), Some(sum(&s, &[m3, p3, A, C, D])), sum(&s, &[m3, p3, ORPHAN, D])),
            (4, false, None, None, sum(&s, &[p4, E])),
        ]
    );
    // A broken _metadata is reported, not an error.
    let text = std::str::from_utf8(&storage.get(m2).await.unwrap()).unwrap().to_string();
    storage.put(m2, Bytes::from(text[..text.len() / 2].to_string())).await.unwrap();
    let listed = tools::list(storage).await.unwrap();
    assert_eq!((listed[1].complete, listed[1].full_size), (true, None));
    assert!(listed[1].problem.as_deref().unwrap().contains("truncated"), "{:?}", listed[1]);
    assert!(listed[1].to_string().starts_with("chk-2      broken"), "{}", listed[1]);
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(json[0]["full_size"], sum(&s, &[m1, p1, A, B]));
}
