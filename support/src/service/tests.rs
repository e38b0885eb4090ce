use super::fit;

#[test]
fn caps_fit_under_the_open_file_limit() {
    assert_eq!(fit([4096, 16_384, 1024], 1_048_576), [4096, 16_384, 1024]);
    let fitted = fit([4096, 16_384, 1024], 1100);
    assert!(fitted.iter().sum::<usize>() <= 1100 - 256, "{fitted:?}");
    assert!(fitted.iter().all(|&c| c >= 1), "{fitted:?}");
    assert_eq!(fit([10, 10], 0), [1, 1]);
}
