//! The typing rules every typing state keeps, run against the memory and Redis ones.

/// Runs each rule on a fresh state made by `$fresh` (an async closure).
#[macro_export]
macro_rules! typing_contract {
    ($fresh:expr) => {
        #[tokio::test]
        async fn first_start_is_new_and_renewal_is_not() {
            let t = ($fresh)().await;
            assert!(t.start("c", "u").await.is_new);
            assert!(!t.start("c", "u").await.is_new);
            assert!(t.start("c", "v").await.is_new);
        }

        #[tokio::test]
        async fn a_renewed_start_outlives_the_old_timer() {
            let t = ($fresh)().await;
            let first = t.start("c", "u").await;
            let second = t.start("c", "u").await;
            assert!(!t.expire("c", "u", first.generation).await);
            assert!(t.expire("c", "u", second.generation).await);
            assert!(!t.stop("c", "u").await);
        }

        #[tokio::test]
        async fn stop_reports_only_real_changes() {
            let t = ($fresh)().await;
            assert!(!t.stop("c", "u").await);
            t.start("c", "u").await;
            assert!(t.stop("c", "u").await);
            assert!(!t.stop("c", "u").await);
        }
    };
}
