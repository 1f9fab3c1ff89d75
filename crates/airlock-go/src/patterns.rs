//! Module path patterns as `GOPRIVATE`, `GONOSUMDB` and `GONOPROXY` take them
//! (`golang.org/x/mod/module.MatchPrefixPatterns`): comma-separated `path.Match`
//! globs, each matching a path that it matches in full or in a prefix of whole
//! path elements. `*.corp.example.com,rsc.io/private` matches
//! `git.corp.example.com/x/y` and `rsc.io/private/quote`, not `rsc.io/privateer`.

/// A parsed, checked list of patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathPatterns {
    globs: Vec<String>,
}

impl PathPatterns {
    /// Parses a comma-separated list; a malformed glob is an error (`go`
    /// silently ignores it, which would leave a module unintentionally covered).
    pub fn parse(list: &str) -> Result<PathPatterns, String> {
        let mut globs = Vec::new();
        for glob in list.split(',') {
            let glob = glob.trim().trim_end_matches('/');
            if glob.is_empty() {
                continue;
            }
            if path_match(glob, "").is_err() {
                return Err(format!("malformed module path pattern {glob:?}"));
            }
            globs.push(glob.to_owned());
        }
        Ok(PathPatterns { globs })
    }

    /// Whether no pattern is given.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Whether `path` or one of its element prefixes matches a pattern.
    pub fn matches(&self, path: &str) -> bool {
        self.globs.iter().any(|glob| {
            // A glob of N+1 elements is matched against the first N+1 elements of the path.
            let elements = glob.matches('/').count() + 1;
            let mut ends = path.match_indices('/').map(|(i, _)| i);
            let prefix = match ends.nth(elements - 1) {
                Some(end) => &path[..end],
                None if path.split('/').count() >= elements => path,
                None => return false,
            };
            path_match(glob, prefix).unwrap_or(false)
        })
    }
}

/// A malformed glob (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/`
/// character, `[...]` a class (`^` negates, `a-z` ranges; it may match `/`, as in
/// Go), `\` escapes.
/// Malformed patterns are an error, wherever they are.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let matched = match_from(&pattern, &name)?;
    // Go reports a malformed pattern even after a failed match: check the rest.
    let mut rest = &pattern[..];
    while !rest.is_empty() {
        match rest[0] {
            '*' => rest = &rest[1..],
            _ => {
                let (_, len) = match_one(rest, None)?;
                rest = &rest[len..];
            }
        }
    }
    Ok(matched)
}

/// Matches one non-`*` pattern item against `c` (`None`: only parse it).
/// Returns whether it matched and the item's length.
fn match_one(p: &[char], c: Option<char>) -> Result<(bool, usize), BadPattern> {
    match p.first() {
        None => Err(BadPattern),
        Some('?') => Ok((c.is_some_and(|c| c != '/'), 1)),
        Some('\\') => {
            let lit = *p.get(1).ok_or(BadPattern)?;
            Ok((c == Some(lit), 2))
        }
        Some('[') => {
            let mut i = 1;
            let negated = p.get(i) == Some(&'^');
            if negated {
                i += 1;
            }
            let mut in_class = false;
            let mut first = true;
            loop {
                let ch = *p.get(i).ok_or(BadPattern)?;
                if ch == ']' && !first {
                    i += 1;
                    break;
                }
                first = false;
                let (lo, next) = class_char(p, i)?;
                i = next;
                let mut hi = lo;
                if p.get(i) == Some(&'-') {
                    let (h, next) = class_char(p, i + 1)?;
                    hi = h;
                    i = next;
                }
                if c.is_some_and(|c| lo <= c && c <= hi) {
                    in_class = true;
                }
            }
            Ok((c.is_some() && in_class != negated, i))
        }
        Some(&lit) => Ok((c == Some(lit), 1)),
    }
}

/// One character of a class, possibly escaped; `-` and `]` must be escaped.
fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

fn match_from(p: &[char], name: &[char]) -> Result<bool, BadPattern> {
    match p.first() {
        None => Ok(name.is_empty()),
        Some('*') => {
            let rest = &p[1..];
            // `*` takes any run of non-separators, shortest first.
            for take in 0..=name.len() {
                if take > 0 && name[take - 1] == '/' {
                    break;
                }
                if match_from(rest, &name[take..])? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Some(_) => {
            let (ok, len) = match_one(p, name.first().copied())?;
            if ok {
                match_from(&p[len..], &name[1..])
            } else {
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_path_match_cases() {
        // A selection of Go's path.Match tests (path/match_test.go).
        for (pattern, name, want) in [
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ] {
            assert_eq!(path_match(pattern, name), want, "{pattern:?} {name:?}");
        }
    }

    #[test]
    fn prefix_patterns_match_whole_elements() {
        let p = PathPatterns::parse("*.corp.example.com, rsc.io/private/,,").expect("valid");
        assert!(p.matches("git.corp.example.com/x/y"));
        assert!(p.matches("rsc.io/private"));
        assert!(p.matches("rsc.io/private/quote"));
        assert!(!p.matches("rsc.io/privateer"));
        assert!(!p.matches("rsc.io"));
        assert!(!p.matches("corp.example.com/x"));
        assert!(!p.matches("example.com/git.corp.example.com"));
        assert!(PathPatterns::parse("").expect("empty").is_empty());
        assert!(!PathPatterns::parse("").expect("empty").matches("a"));
        assert!(PathPatterns::parse("example.com/[").is_err());
        // GONOSUMDB=example.com covers everything under it.
        let p = PathPatterns::parse("example.com").expect("valid");
        assert!(p.matches("example.com/airlock/greet/v2"));
        assert!(!p.matches("example.org/x"));
    }

    proptest! {
        #[test]
        fn a_literal_path_covers_itself_and_what_is_under_it(
            elems in proptest::collection::vec("[a-z0-9.]{1,8}", 1..5),
            extra in proptest::collection::vec("[a-z0-9]{1,8}", 0..3),
            cut in 0usize..5,
        ) {
            let prefix = elems.join("/");
            let p = PathPatterns::parse(&prefix).expect("literal paths are valid");
            let mut path = prefix.clone();
            for e in &extra {
                path.push('/');
                path.push_str(e);
            }
            prop_assert!(p.matches(&path));
            // A path with fewer elements, or differing in one, is not covered.
            let shorter = elems[..cut.min(elems.len() - 1)].join("/");
            prop_assert!(!p.matches(&shorter));
            let other = format!("{path}x");
            prop_assert_eq!(p.matches(&other), !extra.is_empty());
        }

        #[test]
        fn a_star_element_matches_any_one_element(
            elems in proptest::collection::vec("[a-z0-9.]{1,8}", 2..5),
            star in 0usize..4,
        ) {
            let star = star % elems.len();
            let mut globbed = elems.clone();
            globbed[star] = "*".into();
            let p = PathPatterns::parse(&globbed.join("/")).expect("valid");
            prop_assert!(p.matches(&elems.join("/")));
            prop_assert!(!p.matches(&elems[..elems.len() - 1].join("/")));
        }
    }
}
