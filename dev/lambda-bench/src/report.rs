//! The one table the bench prints, and the statistics and units in it.

use std::collections::BTreeMap;
use std::time::Duration;

/// One line of the table.
pub struct Row {
    pub function: String,
    pub measure: String,
    pub result: String,
    pub target: String,
    /// `None`: no target, information only.
    pub met: Option<bool>,
}

/// The rows, in order.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds a row with a target.
    pub fn target(
        &mut self,
        function: &str,
        measure: impl Into<String>,
        result: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.rows.push(Row {
            function: function.to_owned(),
            measure: measure.into(),
            result: result.into(),
            target: target.into(),
            met: Some(met),
        });
    }

    /// Adds an information row.
    pub fn info(&mut self, function: &str, measure: impl Into<String>, result: impl Into<String>) {
        self.rows.push(Row {
            function: function.to_owned(),
            measure: measure.into(),
            result: result.into(),
            target: "—".to_owned(),
            met: None,
        });
    }

    /// The rows as a Markdown table, grouped by function in the order first seen.
    pub fn render(&self) -> String {
        let mut order: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !order.contains(&row.function.as_str()) {
                order.push(&row.function);
            }
        }
        let mut out =
            String::from("| function | measure | result | target | met |\n|---|---|---|---|---|\n");
        for function in order {
            for row in self.rows.iter().filter(|r| r.function == function) {
                let met = match row.met {
                    Some(true) => "✅",
                    Some(false) => "❌",
                    None => "",
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    row.function,
                    row.measure.replace('|', "\\|"),
                    row.result.replace('|', "\\|"),
                    row.target.replace('|', "\\|"),
                    met
                ));
            }
        }
        out
    }
}

/// `--vs-node`: the same measures of the same functions in Rust and in the seed's Node flow,
/// side by side, with the ratio Node / Rust.
#[derive(Default)]
pub struct Comparison {
    /// What was compared how (above the table).
    pub intro: String,
    rows: Vec<[String; 5]>,
}

impl Comparison {
    /// Adds a row: `rust` and `node` as shown, and the numbers their ratio is taken of.
    pub fn row(
        &mut self,
        function: &str,
        measure: impl Into<String>,
        (rust, node): (String, String),
        (rust_value, node_value): (f64, f64),
    ) {
        let ratio = if rust_value > 0.0 {
            format!("{:.1}×", node_value / rust_value)
        } else {
            "—".to_owned()
        };
        let measure = measure.into();
        self.rows
            .push([function.to_owned(), measure, rust, node, ratio]);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The intro and the rows as a Markdown table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}\n\n| function | measure | Rust | Node (seed) | Node / Rust |\n|---|---|---|---|---|\n",
            self.intro
        );
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// The `p`-quantile (0..=1) of `samples`, nearest rank.
pub fn quantile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Median and 95th percentile, formatted.
pub fn median_p95(samples: &[Duration]) -> String {
    format!(
        "{} / {}",
        duration(quantile(samples, 0.5)),
        duration(quantile(samples, 0.95))
    )
}

/// `850 µs`, `3.21 ms`, `1.52 s`.
pub fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// `2.41 MB` (10^6 bytes, as Lambda's limits are stated) and MiB for memory.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// Memory in MiB, as Lambda reports "Max Memory Used".
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// Calls per operation: `Token 1, PutItem 1` or `none`; averages keep two decimals.
pub fn calls(counts: &BTreeMap<String, f64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(name, n)| {
            if (n - n.round()).abs() < 1e-9 {
                format!("{name} {n:.0}")
            } else {
                format!("{name} {n:.2}")
            }
        })
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_micros(50));
        assert_eq!(quantile(&samples, 0.95), Duration::from_micros(95));
        assert_eq!(quantile(&samples[..1], 0.95), Duration::from_micros(1));
    }

    #[test]
    fn units_read_naturally() {
        assert_eq!(duration(Duration::from_micros(42)), "42 µs");
        assert_eq!(duration(Duration::from_micros(3210)), "3.21 ms");
        let counts = BTreeMap::from([("Token".to_owned(), 1.0), ("Keys".to_owned(), 0.0)]);
        assert_eq!(calls(&counts), "Token 1");
    }
}
