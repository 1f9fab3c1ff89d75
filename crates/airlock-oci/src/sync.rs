//! `airlock sync oci`: pre-fills mirrored repositories from a list of images
//! (`docker.io/library/alpine:3.20`, `registry.k8s.io/pause@sha256:…`), the
//! way pulls would, so that an airlock carried offline serves them.
//!
//! An index is stored with its original bytes, so its digest (what
//! Kubernetes manifests pin) stays valid; a platform filter only decides which
//! children are fetched. A child left out is `MANIFEST_UNKNOWN` offline.

use crate::error::OciError;
use crate::manifest::{self, RefKind};
use crate::mirror::{self, Resolved};
use crate::path::{Name, Reference};
use crate::registry::Registry;
use airlock_core::digest::AnyDigest;
use airlock_core::Digest;
use serde::Deserialize;

/// A platform to keep: `os/architecture[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [os, architecture] | [os, architecture, _]
                if !os.is_empty() && !architecture.is_empty() =>
            {
                Ok(Platform {
                    os: os.to_owned(),
                    architecture: architecture.to_owned(),
                    variant: parts.get(2).map(|v| (*v).to_owned()),
                })
            }
            _ => Err(format!("{s:?} is not os/architecture[/variant]")),
        }
    }
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Child>,
}

#[derive(Deserialize)]
struct Child {
    digest: String,
    platform: Option<ChildPlatform>,
}

#[derive(Deserialize)]
struct ChildPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    fn matches(&self, p: &ChildPlatform) -> bool {
        self.os == p.os
            && self.architecture == p.architecture
            && self
                .variant
                .as_ref()
                .is_none_or(|v| p.variant.as_ref() == Some(v))
    }
}

/// What a sync did, as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A manifest or index is stored.
    Manifest {
        /// Its digest.
        digest: &'a Digest,
        /// Its media type.
        media_type: &'a str,
    },
    /// A child of an index was left out by the platform filter.
    Skipped {
        /// Its digest.
        digest: &'a AnyDigest,
    },
    /// A blob is stored; `fetched` is false when it already was.
    Blob {
        /// Its digest.
        digest: &'a AnyDigest,
        /// Its size.
        size: u64,
        /// Whether it was fetched now.
        fetched: bool,
    },
}

/// Splits `registry/repository[:tag][@digest]` (a tag defaults to `latest`).
pub fn parse_image(image: &str) -> Result<(Name, Reference), OciError> {
    let (rest, reference) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Reference::parse(digest)?),
        None => {
            let slash = image.rfind('/').unwrap_or(0);
            match image[slash..].rfind(':') {
                Some(colon) => (
                    &image[..slash + colon],
                    Reference::parse(&image[slash + colon + 1..])?,
                ),
                None => (image, Reference::parse("latest")?),
            }
        }
    };
    // `name:tag@digest`: the digest decides.
    let rest = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => &rest[..colon],
        _ => rest,
    };
    Ok((Name::parse(rest)?, reference))
}

/// Stores `image` (from its upstream) with everything it references, only
/// the children of `platforms` when any are given. Returns the digest of
/// what the image names.
pub async fn sync_image(
    reg: &std::sync::Arc<Registry>,
    image: &str,
    platforms: &[Platform],
    report: &mut dyn FnMut(Event<'_>),
) -> Result<Digest, OciError> {
    let (name, reference) = parse_image(image)?;
    let Resolved { name, upstream, .. } = reg.mirrors.resolve(name, None)?;
    let upstream = upstream.ok_or_else(|| {
        OciError::NameUnknown(format!(
            "{image}: its registry is no [[oci.upstreams]] entry"
        ))
    })?;
    let (top, _) = mirror::manifest(reg, &name, &upstream, &reference)
        .await?
        .ok_or_else(|| OciError::ManifestUnknown(image.to_owned()))?;
    let mut todo = vec![top.named()];
    // Each manifest once: an index may name a child twice, or reach it
    // through two parents (a graph of 31 such levels meant 2^31 visits).
    let mut visited = std::collections::HashSet::new();
    while let Some(named) = todo.pop() {
        if !visited.insert(named.clone()) {
            continue;
        }
        let (found, _) = mirror::manifest(reg, &name, &upstream, &Reference::Digest(named.clone()))
            .await?
            .ok_or_else(|| OciError::ManifestUnknown(named.to_string()))?;
        let digest = found.digest.clone();
        report(Event::Manifest {
            digest: &digest,
            media_type: &found.media_type,
        });
        let bytes = reg.store.open(&digest, None).await?.into_bytes().await?;
        let info = manifest::parse(&bytes, Some(&found.media_type))?;
        if info.references.iter().any(|r| r.kind == RefKind::Manifest) {
            let doc: IndexDoc = serde_json::from_slice(&bytes)
                .map_err(|e| OciError::ManifestInvalid(e.to_string()))?;
            for child in doc.manifests {
                let child_digest = crate::path::parse_digest(&child.digest)?;
                let wanted = platforms.is_empty()
                    || child
                        .platform
                        .as_ref()
                        .is_some_and(|p| platforms.iter().any(|want| want.matches(p)));
                match wanted {
                    true => todo.push(child_digest),
                    false => report(Event::Skipped {
                        digest: &child_digest,
                    }),
                }
            }
            continue;
        }
        for r in info.references.iter().filter(|r| !r.may_be_absent) {
            // Blobs are fetched by sha256 (a sha512 one only if already stored).
            let unknown = || OciError::BlobUnknown(r.digest.clone());
            let blob = crate::index::resolve(&reg.db, &r.digest)
                .await?
                .ok_or_else(unknown)?;
            let (size, fetched) = mirror::store_blob(reg, &name, &upstream, &blob)
                .await?
                .ok_or_else(unknown)?;
            report(Event::Blob {
                digest: &r.digest,
                size,
                fetched,
            });
        }
    }
    Ok(top.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_platforms_parse() {
        let d = format!("sha256:{}", "a".repeat(64));
        for (image, name, reference) in [
            (
                "docker.io/library/alpine:3.20",
                "docker.io/library/alpine",
                "3.20",
            ),
            ("quay.io/a/b", "quay.io/a/b", "latest"),
            (
                &format!("registry.k8s.io/pause@{d}"),
                "registry.k8s.io/pause",
                &d,
            ),
            (
                &format!("registry.k8s.io/pause:3.9@{d}"),
                "registry.k8s.io/pause",
                &d,
            ),
        ] {
            let (n, r) = parse_image(image).expect(image);
            assert_eq!((n.as_str(), r.to_string().as_str()), (name, reference));
        }
        assert!(parse_image("Docker.io/x:1").is_err());
        let p: Platform = "linux/arm64/v8".parse().expect("platform");
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!("linux".parse::<Platform>().is_err());
    }
}
