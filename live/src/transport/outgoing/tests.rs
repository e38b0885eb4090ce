use super::*;

#[tokio::test]
async fn refuses_what_would_pass_the_budget_and_marks_the_overflow() {
    let (tx, mut rx) = channel(16, 10);
    let wait = Duration::from_secs(1);
    tx.send("x".repeat(6), wait).await.unwrap();
    tx.send("x".repeat(4), wait).await.unwrap();
    assert_eq!(tx.queued(), 10);
    assert!(!rx.overflow().is_cancelled());
    assert_eq!(tx.send("x".into(), wait).await, Err(Refused::Overflow));
    assert!(rx.overflow().is_cancelled());
    // Once overflowed, nothing more goes in even with room.
    assert_eq!(rx.recv().await.unwrap().len(), 6);
    assert_eq!(tx.queued(), 4);
    assert_eq!(tx.try_send("x".into()), Err(Refused::Overflow));
}

#[tokio::test]
async fn one_message_larger_than_the_budget_passes_an_empty_queue() {
    let (tx, mut rx) = channel(16, 10);
    tx.try_send("x".repeat(50)).unwrap();
    assert_eq!(tx.queued(), 50);
    assert_eq!(rx.try_recv().unwrap().len(), 50);
    assert_eq!(tx.queued(), 0);
}

#[tokio::test]
async fn room_waits_for_the_receiver_to_take_messages() {
    let (tx, mut rx) = channel(16, 100);
    for _ in 0..5 {
        tx.try_send("x".repeat(20)).unwrap();
    }
    let mut room = std::pin::pin!(tx.room(40));
    assert!(futures::poll!(room.as_mut()).is_pending());
    rx.recv().await.unwrap();
    rx.recv().await.unwrap();
    assert!(
        futures::poll!(room.as_mut()).is_pending(),
        "60 still queued"
    );
    rx.recv().await.unwrap();
    assert!(futures::poll!(room.as_mut()).is_ready());
}
