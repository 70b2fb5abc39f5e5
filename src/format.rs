//! Numbers, bytes, durations and money as people read them: one formatter each, used by the
//! command line, the report and the window.

/// `1.5 MiB`, `340 B`.
pub fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `85.0 k`, `1.20 M`: a count in a sentence or a table.
pub fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// `1k`, `10M`, `1.5G`: a count on an axis.
pub fn count_short(v: f64) -> String {
    if v >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A latency with the precision it deserves: `0.043 ms`, `4.32 ms`, `43.2 ms`.
pub fn ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Milliseconds on an axis: `250 ms`, `2.5 ms`, `40 us`, `300 ns`.
pub fn ms_axis(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{} ms", trim_to(v, 3))
    } else if v >= 0.001 {
        format!("{:.0} µs", v * 1e3)
    } else {
        format!("{:.0} ns", v * 1e6)
    }
}

/// Money in a sentence or a table: `$0.42`, `$1234.50`, `$12345`, `$1.20 M`.
pub fn usd(v: f64) -> String {
    if v >= 1e6 {
        format!("${:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("${v:.0}")
    } else {
        format!("${v:.2}")
    }
}

/// Money on an axis: `$1.5k`, `$2M`, `$0.0042`.
pub fn usd_short(v: f64) -> String {
    if v >= 1e6 {
        format!("${}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("${}k", trim(v / 1e3))
    } else if v >= 1.0 {
        format!("${}", trim(v))
    } else {
        format!("${}", format!("{v:.4}").trim_end_matches('0'))
    }
}

/// A 95% interval in ms, `1.234-1.456`, or `n/a` when there were too few samples to bound it.
pub fn interval(ci: Option<(f64, f64)>) -> String {
    ci.map(|(lo, hi)| format!("{lo:.3}-{hi:.3}"))
        .unwrap_or_else(|| "n/a".into())
}

/// A span people wait for: `8 s`, `2 min 5 s`, `1 h 4 min`.
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        s if s < 60 => format!("{} s", s.max(1)),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// `1 run`, `3 runs`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The text with its first letter in upper case, as a sentence starts.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn trim(v: f64) -> String {
    trim_to(v, 2)
}

fn trim_to(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_formatter() {
        assert_eq!(bytes(340), "340 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(count(85_000), "85.0 k");
        assert_eq!(count_short(1.5e9), "1.5G");
        assert_eq!(ms(0.0432), "0.043 ms");
        assert_eq!(ms(43.21), "43.2 ms");
        assert_eq!(ms_axis(2.5), "2.5 ms");
        assert_eq!(ms_axis(0.04), "40 µs");
        assert_eq!(usd(0.42), "$0.42");
        assert_eq!(usd(1.2e6), "$1.20 M");
        assert_eq!(usd_short(1500.0), "$1.5k");
        assert_eq!(interval(None), "n/a");
        assert_eq!(plural(1, "run"), "1 run");
        assert_eq!(sentence("élan x"), "Élan x");
        assert_eq!(duration(std::time::Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(duration(std::time::Duration::from_millis(300)), "1 s");
    }
}
