//! `/v1` delivery guarantees: exactly-once sends with an Idempotency-Key, gapless seqs under
//! concurrent senders, and history windows that page forward and backward without loss.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Reply, apps, keys, status_is};
use crate::v1_conversations::{conversation, sent, summary};
use crate::v1_messages::{pair, refused_with, send, send_keyed, seqs, window};

/// Whether the reply is a replay of an earlier send.
fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_retried_send_with_the_same_key_is_replayed_without_storing_again() {
    for app in apps().await {
        let (alice, _bob, id) = pair(&app).await;

        let first = send_keyed(&app, &alice, id, "once", "retry-1").await;
        let retry = send_keyed(&app, &alice, id, "once", "retry-1").await;

        status_is(&app, &first, StatusCode::CREATED);
        assert!(!replayed(&first), "{}", app.label());
        status_is(&app, &retry, StatusCode::CREATED);
        assert!(replayed(&retry), "{}", app.label());
        assert_eq!(retry.body["id"], first.body["id"]);
        assert_eq!(retry.body["seq"], first.body["seq"]);
        assert_eq!(summary(&app, &alice, id).await["last_seq"], 1);
    }
}

#[tokio::test]
async fn a_key_reused_for_a_different_request_is_refused_and_takes_no_seq() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let notes = conversation(&app, &alice, &alice).await;
        send_keyed(&app, &alice, id, "first", "k").await;

        let other_text = send_keyed(&app, &alice, id, "second", "k").await;
        let other_place = send_keyed(&app, &alice, notes, "first", "k").await;
        let bobs_own = send_keyed(&app, &bob, id, "first", "k").await;
        let next = sent(&app, &alice, id, "third").await;

        refused_with(
            &app,
            &other_text,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        );
        refused_with(
            &app,
            &other_place,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        );
        status_is(&app, &bobs_own, StatusCode::CREATED);
        assert!(
            !replayed(&bobs_own),
            "keys belong to their user ({})",
            app.label()
        );
        assert_eq!(bobs_own.body["seq"], 2);
        assert_eq!(next["seq"], 3, "{}", app.label());
        assert_eq!(summary(&app, &alice, notes).await["last_seq"], 0);
    }
}

#[tokio::test]
async fn concurrent_sends_with_one_key_store_exactly_one_message() {
    for app in apps().await {
        let (alice, _bob, id) = pair(&app).await;

        let replies =
            join_all((0..10).map(|_| send_keyed(&app, &alice, id, "just once", "same-key"))).await;

        for reply in &replies {
            status_is(&app, reply, StatusCode::CREATED);
            assert_eq!(reply.body["id"], replies[0].body["id"], "{}", app.label());
            assert_eq!(reply.body["seq"], 1, "{}", app.label());
        }
        let originals = replies.iter().filter(|r| !replayed(r)).count();
        assert_eq!(originals, 1, "{}", app.label());
        let history = window(&app, &alice, id, "").await;
        assert_eq!(seqs(&history.body), [1], "{}", app.label());
    }
}

#[tokio::test]
async fn concurrent_sends_from_both_members_get_seqs_one_to_sixty() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;

        let sends = (0..60).map(|n| {
            let who = if n % 2 == 0 { &alice } else { &bob };
            send(
                &app,
                who,
                id,
                json!({"content": format!("message {n}")}),
                None,
            )
        });
        let replies = join_all(sends).await;

        let mut assigned: Vec<i64> = replies
            .iter()
            .map(|r| {
                status_is(&app, r, StatusCode::CREATED);
                r.body["seq"].as_i64().unwrap()
            })
            .collect();
        assigned.sort_unstable();
        assert_eq!(assigned, (1..=60).collect::<Vec<_>>(), "{}", app.label());
        let stored = window(&app, &alice, id, "?after=0&limit=100").await;
        assert_eq!(seqs(&stored.body), assigned, "{}", app.label());
    }
}

#[tokio::test]
async fn paging_forward_while_the_peer_sends_returns_every_message_once_in_order() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        for n in 0..20 {
            sent(&app, &bob, id, &format!("early {n}")).await;
        }
        let done = AtomicBool::new(false);

        let sending = async {
            for n in 0..40 {
                sent(&app, &bob, id, &format!("late {n}")).await;
            }
            done.store(true, Ordering::SeqCst);
        };
        let reading = async {
            let (mut seen, mut cursor) = (Vec::new(), 0);
            loop {
                // Checked before the read: a page read after the sender finished that has
                // nothing more has seen everything.
                let finished = done.load(Ordering::SeqCst);
                let page = window(&app, &alice, id, &format!("?after={cursor}&limit=7")).await;
                status_is(&app, &page, StatusCode::OK);
                seen.extend(seqs(&page.body));
                cursor = page.body["next_cursor"].as_i64().unwrap();
                if finished && page.body["has_more"] == false {
                    return seen;
                }
                if page.body["messages"].as_array().unwrap().is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        };
        let ((), seen) = tokio::join!(sending, reading);

        assert_eq!(seen, (1..=60).collect::<Vec<_>>(), "{}", app.label());
    }
}

#[tokio::test]
async fn paging_backward_from_the_newest_returns_everything_once() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        for n in 0..25 {
            sent(
                &app,
                if n % 3 == 0 { &alice } else { &bob },
                id,
                &format!("m{n}"),
            )
            .await;
        }

        let newest = window(&app, &alice, id, "?limit=10").await;
        let middle = window(&app, &alice, id, "?before=16&limit=10").await;
        let oldest = window(&app, &alice, id, "?before=6&limit=10").await;
        let beyond = window(&app, &alice, id, "?before=1&limit=10").await;

        assert_eq!(keys(&newest.body), ["has_more", "messages", "next_cursor"]);
        assert_eq!(
            seqs(&newest.body),
            (16..=25).collect::<Vec<_>>(),
            "{}",
            app.label()
        );
        assert_eq!(newest.body["has_more"], true);
        assert_eq!(newest.body["next_cursor"], 16);
        assert_eq!(seqs(&middle.body), (6..=15).collect::<Vec<_>>());
        assert_eq!(middle.body["next_cursor"], 6);
        assert_eq!(seqs(&oldest.body), (1..=5).collect::<Vec<_>>());
        assert_eq!(
            (&oldest.body["has_more"], &oldest.body["next_cursor"]),
            (&json!(false), &json!(1))
        );
        assert!(seqs(&beyond.body).is_empty());
        assert!(beyond.body["next_cursor"].is_null(), "{}", app.label());
        assert_eq!(newest.body["messages"][9]["content"], "m24");
    }
}

#[tokio::test]
async fn history_windows_refuse_bad_parameters_and_start_empty() {
    for app in apps().await {
        let (alice, _bob, id) = pair(&app).await;

        for (query, field) in [
            ("?before=5&after=1", "after"),
            ("?before=-1", "before"),
            ("?after=-1", "after"),
            ("?limit=0", "limit"),
            ("?limit=101", "limit"),
        ] {
            let reply = window(&app, &alice, id, query).await;
            refused_with(
                &app,
                &reply,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            assert_eq!(reply.field_names(), [field], "{query} ({})", app.label());
        }
        let latest = window(&app, &alice, id, "").await;
        let polled = window(&app, &alice, id, "?after=0").await;

        assert_eq!(
            latest.body,
            json!({"messages": [], "has_more": false, "next_cursor": null})
        );
        assert_eq!(
            polled.body,
            json!({"messages": [], "has_more": false, "next_cursor": 0})
        );
    }
}
