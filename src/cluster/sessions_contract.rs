//! What every packet log and session store must do, run against memory and Redis alike.

/// `$log` makes a fresh log keeping `max` packets per namespace; `$sessions` a fresh
/// session store.
#[macro_export]
macro_rules! sessions_contract {
    ($log:expr, $sessions:expr) => {
        #[allow(unused_imports)]
        use switchyard_namespaces::ports::{
            LoggedPacket as Packet, PacketLog as _, Reader, Session, SessionStore as _,
        };

        fn packet(event: &str, rooms: &[&str]) -> Packet {
            Packet {
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
                except: Vec::new(),
                except_sid: None,
                event: event.into(),
                data: serde_json::json!({ "n": event }),
            }
        }

        fn events(logged: &[switchyard_namespaces::ports::Logged]) -> Vec<&str> {
            logged.iter().map(|l| l.packet.event.as_str()).collect()
        }

        #[tokio::test]
        async fn packets_after_an_offset_come_in_order_per_namespace() {
            let log = ($log)(100).await;
            let start = log.last_offset("/a").await.expect("store call").expect("an offset");
            let first = log.append("/a", &packet("one", &["r"])).await.expect("store call");
            log.append("/b", &packet("elsewhere", &["r"])).await.expect("store call");
            log.append("/a", &packet("two", &[])).await.expect("store call");
            let all = log.after("/a", &start, 10, Reader::All).await.expect("store call").expect("kept");
            assert_eq!(events(&all), ["one", "two"]);
            assert_eq!(all[0].offset, first);
            assert_eq!(all[1].packet, packet("two", &[]));
            let rest = log.after("/a", &first, 10, Reader::All).await.expect("store call").expect("kept");
            assert_eq!(events(&rest), ["two"]);
            let none = log.after("/a", &rest[0].offset, 10, Reader::All).await.expect("store call");
            assert_eq!(none.map(|n| n.len()), Some(0), "caught up");
            assert_eq!(log.last_offset("/a").await.expect("store call"), Some(rest[0].offset.clone()));
        }

        #[tokio::test]
        async fn the_start_of_an_empty_log_resumes_with_nothing_missed() {
            let log = ($log)(100).await;
            let start = log.last_offset("/quiet").await.expect("store call").expect("an offset");
            let none = log.after("/quiet", &start, 10, Reader::All).await.expect("store call");
            assert_eq!(none.map(|n| n.len()), Some(0), "nothing logged, nothing missed");
            let first = log.append("/quiet", &packet("one", &["r"])).await.expect("store call");
            let all = log.after("/quiet", &start, 10, Reader::All).await.expect("store call").expect("kept");
            assert_eq!(events(&all), ["one"]);
            assert_eq!(all[0].offset, first);
        }

        #[tokio::test]
        async fn an_offset_past_what_is_kept_or_never_given_cannot_resume() {
            let log = ($log)(3).await;
            let start = log.last_offset("/a").await.expect("store call").expect("an offset");
            let mut offsets = Vec::new();
            for i in 0..40 {
                offsets.push(log.append("/a", &packet(&format!("p{i}"), &["r"])).await.expect("store call"));
            }
            assert_eq!(log.after("/a", &start, 100, Reader::All).await.expect("store call"), None, "trimmed");
            let latest = log.after("/a", &offsets[38], 100, Reader::All).await.expect("store call").expect("kept");
            assert_eq!(events(&latest), ["p39"]);
            assert_eq!(log.after("/a", "not-an-offset", 100, Reader::All).await.expect("store call"), None);
            assert_eq!(log.after("/a", "99999999999999-0", 100, Reader::All).await.expect("store call"), None);
            assert_eq!(log.after("/a", "999999", 100, Reader::All).await.expect("store call"), None);
        }

        #[tokio::test]
        async fn more_than_the_limit_after_an_offset_cannot_resume() {
            let log = ($log)(100).await;
            let start = log.last_offset("/a").await.expect("store call").expect("an offset");
            for i in 0..5 {
                log.append("/a", &packet(&format!("p{i}"), &["r"])).await.expect("store call");
            }
            assert_eq!(log.after("/a", &start, 4, Reader::All).await.expect("store call"), None);
            assert_eq!(log.after("/a", &start, 5, Reader::All).await.expect("store call").map(|p| p.len()), Some(5));
        }

        #[tokio::test]
        async fn a_socket_reads_only_what_reached_it_and_the_limit_counts_every_packet() {
            let log = ($log)(100).await;
            let start = log.last_offset("/a").await.expect("store call").expect("an offset");
            let mut sent = packet("from-me", &["r"]);
            sent.except_sid = Some("s1".into());
            let mut not_mine = packet("not-for-my-room", &["r"]);
            not_mine.except = vec!["mine".into()];
            for p in [packet("to-r", &["r"]), packet("elsewhere", &["q"]), sent, not_mine, packet("all", &[])] {
                log.append("/a", &p).await.expect("store call");
            }
            let rooms = ["r".to_string(), "mine".to_string()];
            let me = Reader::Socket { sid: "s1", rooms: &rooms };
            let got = log.after("/a", &start, 5, me).await.expect("store call").expect("kept");
            assert_eq!(events(&got), ["to-r", "all"]);
            assert_eq!(log.after("/a", &start, 4, me).await.expect("store call"), None, "5 follow");
        }

        #[tokio::test]
        async fn sessions_are_kept_for_their_time_and_until_deleted() {
            let store = ($sessions)().await;
            let session = Session {
                sid: "s1".into(),
                ns: "/a".into(),
                user_id: "u".into(),
                rooms: vec!["r".into()],
                start_offset: Some("1".into()),
            };
            store.save("p1", &session, 60_000).await.expect("store call");
            store.save("p2", &session, 150).await.expect("store call");
            assert_eq!(store.get("p1").await.expect("store call"), Some(session.clone()));
            assert_eq!(store.get("unknown").await.expect("store call"), None);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert_eq!(store.get("p2").await.expect("store call"), None, "expired");
            store.delete("p1").await.expect("store call");
            assert_eq!(store.get("p1").await.expect("store call"), None, "deleted");
        }
    };
}
