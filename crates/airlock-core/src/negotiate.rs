//! Content negotiation: choosing one of a server's representations from a
//! request's `Accept` header (RFC 9110 §12.5.1), with q-values and wildcards.
//!
//! A representation may answer to several media type names (PEP 691's `latest`
//! aliases, OCI's manifest types). The highest q wins; at equal q an explicit
//! name beats `type/*`, which beats `*/*`; then the earlier offer wins, so the
//! order of the offers is the server's preference (`*/*` gets the first).

/// One entry of an `Accept` header.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, lowercased; may be `type/*` or `*/*`.
    pub media: String,
    /// Its weight, 0 to 1.
    pub q: f32,
}

/// Parses an `Accept` value. Entries with an unparsable q are dropped.
pub fn parse_accept(value: &str) -> Vec<MediaRange> {
    value
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let mut q = 1.0f32;
            for param in parts {
                if let Some((key, value)) = param.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = value
                            .trim()
                            .parse()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))?;
                    }
                }
            }
            Some(MediaRange { media, q })
        })
        .collect()
}

/// How specifically `range` names one of `names`: 2 exactly, 1 as `type/*`,
/// 0 as `*/*`; `None` when it does not match.
fn specificity(range: &str, names: &[&str]) -> Option<u8> {
    if names.iter().any(|n| n.eq_ignore_ascii_case(range)) {
        Some(2)
    } else if range == "*/*" {
        Some(0)
    } else {
        let kind = range.strip_suffix("/*")?;
        names
            .iter()
            .any(|n| {
                n.split_once('/')
                    .is_some_and(|(t, _)| t.eq_ignore_ascii_case(kind))
            })
            .then_some(1)
    }
}

/// The index of the offer the `Accept` value prefers, or `None` when it accepts
/// none of them (a 406). Each offer lists the names of one representation.
pub fn choose(accept: &str, offers: &[&[&str]]) -> Option<usize> {
    let ranges = parse_accept(accept);
    let mut best: Option<(f32, u8, usize)> = None;
    for (i, names) in offers.iter().enumerate() {
        // The most specific range that names this offer decides its q.
        let matched = ranges
            .iter()
            .filter_map(|r| specificity(&r.media, names).map(|s| (s, r.q)))
            .max_by_key(|(s, _)| *s);
        if let Some((s, q)) = matched {
            if q > 0.0 && best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && s > bs)) {
                best = Some((q, s, i));
            }
        }
    }
    best.map(|(_, _, i)| i)
}

/// Whether an `Accept-Encoding` value accepts `coding` (e.g. `gzip`), by name
/// or through `*`, with a q above 0.
pub fn accepts_encoding(accept_encoding: &str, coding: &str) -> bool {
    let ranges = parse_accept(accept_encoding);
    let named = ranges.iter().find(|r| r.media.eq_ignore_ascii_case(coding));
    match named.or_else(|| ranges.iter().find(|r| r.media == "*")) {
        Some(r) => r.q > 0.0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: &[&str] = &["text/html"];
    const JSON: &[&str] = &["application/vnd.x.v1+json", "application/vnd.x.latest+json"];

    #[test]
    fn chooses_by_q_then_specificity_then_order() {
        let offers = [HTML, JSON];
        assert_eq!(choose("*/*", &offers), Some(0));
        assert_eq!(
            choose("application/vnd.x.v1+json, text/html;q=0.1", &offers),
            Some(1)
        );
        assert_eq!(choose("application/vnd.x.latest+json", &offers), Some(1));
        // The most specific range decides: text/html gets 0.5, the JSON type 0.9.
        assert_eq!(choose("text/*;q=0.5, */*;q=0.9", &offers), Some(1));
        assert_eq!(choose("application/*, text/html;q=0.5", &offers), Some(1));
        assert_eq!(choose("text/html;q=0, */*;q=0.1", &offers), Some(1));
        assert_eq!(choose("application/json", &offers), None);
        assert_eq!(choose("text/html;q=0", &offers), None);
        assert_eq!(choose("text/html;q=abc", &offers), None);
    }

    #[test]
    fn encodings() {
        assert!(accepts_encoding("gzip, deflate, zstd", "gzip"));
        assert!(accepts_encoding("br;q=1, *;q=0.1", "gzip"));
        assert!(!accepts_encoding("gzip;q=0", "gzip"));
        assert!(!accepts_encoding("identity", "gzip"));
        assert!(!accepts_encoding("", "gzip"));
    }
}
