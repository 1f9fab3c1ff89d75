//! Runs wrk and reads its report.

use std::process::Command;

/// One load run's result.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Requests per second.
    pub rps: f64,
    /// Megabytes (10^6) per second of response bodies and headers.
    pub mbps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Requests completed.
    pub requests: f64,
    /// Non-2xx/3xx answers or socket errors.
    pub errors: f64,
}

/// `wrk --latency -c conc -d secs [-H header…] url`.
pub fn run_with(url: &str, conc: u32, secs: u32, headers: &[&str]) -> Result<LoadResult, String> {
    let threads = conc.min(2);
    let mut cmd = Command::new("wrk");
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd
        .args([
            "--latency",
            "-t",
            &threads.to_string(),
            "-c",
            &conc.to_string(),
            "-d",
        ])
        .arg(format!("{secs}s"))
        .arg("--timeout")
        .arg("30s")
        .arg(url)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse(&text).ok_or_else(|| format!("cannot read wrk output:\n{text}"))
}

fn duration_ms(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn bytes(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(
        n * match unit {
            "B" => 1.0,
            "KB" => 1024.0,
            "MB" => 1024.0 * 1024.0,
            "GB" => 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        },
    )
}

/// Parses wrk's text report.
pub fn parse(text: &str) -> Option<LoadResult> {
    let mut r = LoadResult::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.p50_ms = duration_ms(v)?,
            ["99%", v] => r.p99_ms = duration_ms(v)?,
            ["Requests/sec:", v] => r.rps = v.parse().ok()?,
            ["Transfer/sec:", v] => r.mbps = bytes(v)? / 1e6,
            [n, "requests", "in", ..] => r.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<f64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<f64>().ok())
                    .sum::<f64>()
            }
            _ => {}
        }
    }
    (r.rps > 0.0).then_some(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_wrk_report() {
        let text = "Running 2s test @ http://127.0.0.1:8080/x\n  1 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   210.31us  101.20us   4.10ms   90.00%\n  Latency Distribution\n     50%  190.00us\n     75%  230.00us\n     90%  300.00us\n     99%    1.20ms\n  140000 requests in 2.00s, 1.20GB read\nRequests/sec:  70000.00\nTransfer/sec:    600.00MB\n";
        let r = super::parse(text).expect("parsed");
        assert_eq!(r.rps, 70000.0);
        assert!((r.p50_ms - 0.19).abs() < 1e-9);
        assert!((r.p99_ms - 1.2).abs() < 1e-9);
        assert_eq!(r.requests, 140000.0);
        assert!((r.mbps - 629.14560).abs() < 0.001);
    }
}
