//! Checks a fetched `go.mod` before it is stored for good.
//!
//! Every `.mod` ever stored is served for as long as the store lives, so what
//! an upstream sends must at least be a whole go.mod of the module asked for:
//! an HTML error page served with 200, or a body cut short by an upstream that
//! announced a `Content-Length` shorter than what it had (`module
//! example.com/gen` arriving as `module example.com/g`), must not be cached.
//! The checksum database catches both for the modules it covers; this check
//! also holds for private modules.

use crate::module;
use crate::semver;

/// Checks `bytes` as the go.mod of `module@version`.
///
/// The `module` directive must name the requested path, with the exceptions
/// go itself makes when it reads a module from a repository (`modfetch`'s
/// `findDir`): a fork used through a `replace` directive may declare the path
/// of the module it replaces, as long as the major-version suffixes agree, and
/// an unversioned path may declare a `gopkg.in` path. Such a declaration must
/// be a complete line, because a declaration cut short by a truncated body is
/// a valid-looking path too. A `+incompatible` version's go.mod is the one go
/// synthesizes, `module PATH`: it must name the requested path exactly.
pub fn check(bytes: &[u8], module: &str, version: &str) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "go.mod is not UTF-8".to_owned())?;
    let directive = module_directive(text).ok_or("go.mod has no module directive")?;
    unclosed_block(text)?;
    if directive.path == module {
        return Ok(());
    }
    let mismatch = |why: &str| {
        Err(format!(
            "go.mod declares module {:?}, not {module:?}{why}",
            directive.path
        ))
    };
    if semver::build(version) == "+incompatible" {
        return mismatch(" (a +incompatible version has no go.mod of its own)");
    }
    if !directive.complete {
        return mismatch(" (the file ends inside that line: truncated?)");
    }
    if module::check_path(directive.path).is_err() {
        return mismatch(" (not a valid module path)");
    }
    let (_, wanted_major) = module::split_path_version(module);
    let (_, declared_major) = module::split_path_version(directive.path);
    let gopkg_in_fork = wanted_major.is_empty() && directive.path.starts_with("gopkg.in/");
    if same_major(wanted_major, declared_major) || gopkg_in_fork {
        return Ok(()); // a fork, usable through a `replace` directive
    }
    mismatch(" (another major version)")
}

/// Whether a path with major suffix `declared` may stand for one with
/// `wanted` (`/v2` and `.v2` alike; no suffix, `/v0`-less and `.v0`/`.v1` alike).
fn same_major(wanted: &str, declared: &str) -> bool {
    let number = |suffix: &str| match suffix.trim_start_matches(['/', '.']) {
        "" | "v0" | "v1" => String::new(),
        v => v.to_owned(),
    };
    number(wanted) == number(declared)
}

/// The `module` directive: its path (unquoted) and whether a line break
/// follows it.
struct Directive<'a> {
    path: &'a str,
    complete: bool,
}

fn module_directive(text: &str) -> Option<Directive<'_>> {
    let mut lines = text.split_inclusive('\n').map(|line| {
        let complete = line.ends_with('\n');
        (strip_comment(line).trim(), complete)
    });
    while let Some((line, complete)) = lines.next() {
        let Some(rest) = line.strip_prefix("module") else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.len() == line.len() - "module".len() && !rest.starts_with(['"', '`', '(']) {
            continue; // `modulex`: another word
        }
        if rest == "(" {
            // module (
            //     path
            // )
            let (inner, complete) = lines.find(|(l, _)| !l.is_empty())?;
            return Some(Directive {
                path: unquote(inner)?,
                complete,
            });
        }
        return Some(Directive {
            path: unquote(rest)?,
            complete,
        });
    }
    None
}

/// The line without a `//` comment that starts outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let bytes = line.as_bytes();
    for (at, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'`') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'/') if bytes.get(at + 1) == Some(&b'/') => return &line[..at],
            _ => {}
        }
    }
    line
}

fn unquote(token: &str) -> Option<&str> {
    let path = match token.as_bytes().first()? {
        b'"' => token.strip_prefix('"')?.strip_suffix('"')?,
        b'`' => token.strip_prefix('`')?.strip_suffix('`')?,
        _ => token,
    };
    (!path.is_empty() && !path.contains(char::is_whitespace)).then_some(path)
}

/// A `(` block left open at the end: the file was cut inside it.
fn unclosed_block(text: &str) -> Result<(), String> {
    let mut open = false;
    for line in text.lines() {
        let line = strip_comment(line).trim();
        if line.ends_with('(') {
            open = true;
        } else if line == ")" {
            open = false;
        }
    }
    if open {
        Err("go.mod ends inside a ( block: truncated?".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "example.com/gen";

    #[test]
    fn a_go_mod_of_the_requested_module_passes() {
        for text in [
            "module example.com/gen\n\ngo 1.16\n",
            "module example.com/gen",
            "// comment\nmodule \"example.com/gen\" // trailing\n",
            "module `example.com/gen`\n",
            "module (\n\texample.com/gen\n)\n",
            "module example.com/gen\nrequire (\n\tx.org/y v1.0.0\n)\n",
        ] {
            check(text.as_bytes(), M, "v1.0.0").unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
    }

    #[test]
    fn a_truncated_or_foreign_go_mod_is_refused() {
        for (text, why) in [
            ("module example.com/g", "truncated"),
            (
                "module example.com/gen\nrequire (\n\tx.org/y v1.0.0\n",
                "( block",
            ),
            ("<html>oops</html>", "no module directive"),
            ("modulex foo\n", "no module directive"),
            ("module example.com/gen/v2\n", "another major version"),
            ("module not a path\n", "no module directive"),
            ("module ../etc\n", "not a valid module path"),
        ] {
            let err = check(text.as_bytes(), M, "v1.0.0").expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
        assert!(check(&[0xff, 0xfe], M, "v1.0.0").is_err());
    }

    #[test]
    fn forks_keep_working_through_replace() {
        // A fork's go.mod usually keeps the path of the module it replaces.
        check(
            b"module github.com/orig/lib\n\ngo 1.20\n",
            "github.com/fork/lib",
            "v1.2.0",
        )
        .expect("fork");
        check(
            b"module github.com/orig/lib/v3\n",
            "github.com/fork/lib/v3",
            "v3.0.0",
        )
        .expect("fork of a v3");
        check(
            b"module gopkg.in/yaml.v2\n",
            "github.com/go-yaml/yaml",
            "v1.0.0",
        )
        .expect("gopkg.in bug");
        assert!(check(
            b"module github.com/orig/lib/v2\n",
            "github.com/fork/lib",
            "v1.2.0"
        )
        .is_err());
    }

    #[test]
    fn incompatible_versions_have_the_synthesized_go_mod() {
        check(b"module example.com/gen\n", M, "v2.0.0+incompatible").expect("synthesized");
        let err = check(b"module github.com/orig/gen\n", M, "v2.0.0+incompatible")
            .expect_err("not synthesized");
        assert!(err.contains("+incompatible"), "{err}");
    }
}
