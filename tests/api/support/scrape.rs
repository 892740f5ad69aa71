//! Reading `GET /metrics`: the Prometheus text format, enough to find series by name and
//! labels. The recorder is process-wide and tests run in parallel, so tests compare two
//! scrapes (a delta) or look for a series, never an absolute value.

use std::collections::BTreeMap;
use std::time::Duration;

/// One scrape: every sample with its labels.
pub struct Scrape {
    pub text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

pub async fn scrape(url: &str) -> Scrape {
    let res = reqwest::get(url).await.expect("metrics answer");
    assert_eq!(res.status().as_u16(), 200, "GET {url}");
    Scrape::parse(res.text().await.expect("metrics body"))
}

impl Scrape {
    pub fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(sample)
            .collect();
        Scrape { text, samples }
    }

    /// The sum of every `name` sample whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, _, v)| v).sum()
    }

    /// Whether some `name` sample has (at least) `labels`.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    /// Every metric family name the scrape declares with `# TYPE`.
    pub fn families(&self) -> Vec<String> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    pub fn type_of(&self, name: &str) -> Option<String> {
        let prefix = format!("# TYPE {name} ");
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a (String, BTreeMap<String, String>, f64)> + 'a {
        self.samples.iter().filter(move |(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).is_some_and(|have| have == v))
        })
    }
}

/// `name{a="x",b="y"} 1.5` (label values without commas or escaped quotes).
fn sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .collect();
    Some((name.to_owned(), labels, value))
}

/// Scrapes until `check` holds (the server updates some metrics after answering), or
/// gives up after a few seconds and returns the last scrape for the assertion.
pub async fn until(url: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..50 {
        let now = scrape(url).await;
        if check(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scrape(url).await
}
