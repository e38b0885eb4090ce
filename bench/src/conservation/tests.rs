use super::*;

fn map<V: Copy>(entries: &[(&str, V)]) -> BTreeMap<String, V> {
    entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn stock_moved_to_created_orders_is_conserved() {
    let baseline = map(&[("Laptop", 100), ("Phone", 50)]);
    let totals = map(&[("Laptop", (60, 40)), ("Phone", (50, 0))]);
    assert!(violations(&baseline, &totals).is_empty());
}

#[test]
fn lost_doubled_and_oversold_stock_is_caught() {
    let baseline = map(&[("Laptop", 100), ("Phone", 50), ("Tablet", 10), ("Gone", 5)]);
    let totals = map(&[
        // A reservation taken but its order not CREATED: stock lost.
        ("Laptop", (59, 40)),
        // An order CREATED without its reservation: oversold.
        ("Phone", (50, 1)),
        // Below zero, even though the sum matches.
        ("Tablet", (-1, 11)),
        // A product that appeared from nowhere.
        ("New", (1, 0)),
    ]);
    let found: Vec<(String, i64, i64, i64)> = violations(&baseline, &totals)
        .into_iter()
        .map(|v| (v.product, v.stock, v.created, v.baseline))
        .collect();
    assert_eq!(
        found,
        [
            ("Gone".to_owned(), 0, 0, 5),
            ("Laptop".to_owned(), 59, 40, 100),
            ("New".to_owned(), 1, 0, 0),
            ("Phone".to_owned(), 50, 1, 50),
            ("Tablet".to_owned(), -1, 11, 10),
        ]
    );
}
