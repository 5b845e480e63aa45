//! `--shared-followers F`: a fraction of every list drawn from one population shared by all
//! accounts, the same people as followers and as followed members, over days with churn.

use std::collections::{HashMap, HashSet};

use postpress_sim::{expected_item_shared, expected_keys, expected_keys_shared};

use super::*;

const ACCOUNTS: [(&str, Provider); 4] = [
    ("acc_linkedin_0000", Provider::Linkedin),
    ("acc_instagram_0001", Provider::Instagram),
    ("acc_linkedin_0002", Provider::Linkedin),
    ("acc_instagram_0003", Provider::Instagram),
];

fn args<'a>(shared: &'a str, churn: &'a str) -> Vec<&'a str> {
    vec![
        "--accounts",
        "4",
        "--followers",
        "600",
        "--following",
        "300",
        "--seed",
        "9",
        "--churn",
        churn,
        "--shared-followers",
        shared,
    ]
}

/// Each served list is the ground truth; about F of each followers list are people found in
/// every other LinkedIn followers list and as `member_id` in every following list; the served
/// item of a shared person is exactly `expected_item_shared`.
#[tokio::test]
async fn shared_people_follow_many_accounts_and_are_followed() {
    let sim = SimProcess::start(&args("0.3", "0.05"));
    for day in [0u32, 3] {
        sim.set_day(day).await;
        let mut followers: HashMap<&str, Vec<String>> = HashMap::new();
        let mut following: HashMap<&str, Vec<String>> = HashMap::new();
        for (account, provider) in ACCOUNTS {
            let walk = sim.walk("followers", account, 100).await;
            let truth = expected_keys_shared(
                9,
                0.3,
                provider,
                Dataset::Followers,
                account,
                600,
                0.05,
                day,
            );
            assert_eq!(walk.keys(), truth, "{account} followers day {day}");
            assert_eq!(sim.ids("followers", account, None).await, truth);
            let plain = expected_keys(9, provider, Dataset::Followers, account, 600, 0.05, day);
            assert_ne!(truth, plain, "sharing changes who the people are");
            assert_eq!(truth.len(), plain.len(), "but never how many");
            let unique: HashSet<&String> = truth.iter().collect();
            assert_eq!(unique.len(), truth.len(), "a key twice in one list");
            followers.insert(account, truth);
            let walk = sim.walk("following", account, 1000).await;
            let truth = expected_keys_shared(
                9,
                0.3,
                provider,
                Dataset::Following,
                account,
                300,
                0.05,
                day,
            );
            assert_eq!(walk.keys(), truth, "{account} following day {day}");
            following.insert(account, truth);
        }
        let li_a: HashSet<&String> = followers["acc_linkedin_0000"].iter().collect();
        let li_b: HashSet<&String> = followers["acc_linkedin_0002"].iter().collect();
        let both = li_a.intersection(&li_b).count();
        // P(index shared) = 0.3 and most indices are in both lists.
        assert!(
            (120..=240).contains(&both),
            "day {day}: {both} shared followers"
        );
        let ig_a: HashSet<&String> = followers["acc_instagram_0001"].iter().collect();
        let ig_b: HashSet<&String> = followers["acc_instagram_0003"].iter().collect();
        assert!(
            ig_a.intersection(&ig_b).count() >= 120,
            "instagram followers"
        );
        for (account, _) in ACCOUNTS {
            let followed: HashSet<&String> = following[account].iter().collect();
            let common = li_a.intersection(&followed).count();
            assert!(
                common >= 50,
                "{account} follows {common} of acc_linkedin_0000's followers"
            );
        }
    }
    // The content of a shared person's item is the ground truth's, from any list.
    sim.set_day(0).await;
    let walk = sim.walk("followers", "acc_linkedin_0002", 100).await;
    for (i, item) in walk.items().iter().enumerate() {
        let expected = expected_item_shared(
            9,
            0.3,
            Provider::Linkedin,
            Dataset::Followers,
            "acc_linkedin_0002",
            i as u64,
        );
        assert_eq!(**item, expected, "item {i}");
    }
}

/// The same seed and day give the same lists; 0 shares nothing (the lists of before); 1 shares
/// every index; a value outside 0..=1 is refused with the flag's name.
#[tokio::test]
async fn sharing_is_deterministic_and_bounded() {
    let zero = SimProcess::start(&args("0", "0.05"));
    zero.set_day(2).await;
    let plain = expected_keys(
        9,
        Provider::Linkedin,
        Dataset::Followers,
        "acc_linkedin_0000",
        600,
        0.05,
        2,
    );
    assert_eq!(
        zero.walk("followers", "acc_linkedin_0000", 100)
            .await
            .keys(),
        plain
    );
    let all = SimProcess::start(&args("1", "0"));
    let a = all.walk("followers", "acc_linkedin_0000", 100).await.keys();
    let b = all.walk("followers", "acc_linkedin_0002", 100).await.keys();
    let members = all
        .walk("following", "acc_instagram_0001", 1000)
        .await
        .keys();
    assert_eq!(
        a, b,
        "every index shared: the same people in the same order"
    );
    assert_eq!(members, a[..300], "followed members are the same people");
    let again = SimProcess::start(&args("1", "0"));
    assert_eq!(
        again
            .walk("followers", "acc_linkedin_0000", 100)
            .await
            .keys(),
        a
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postpress-sim"))
        .args(["--shared-followers", "1.5"])
        .output()
        .expect("run postpress-sim");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--shared-followers") && stderr.contains("a fraction from 0 to 1"),
        "{stderr}"
    );
}
