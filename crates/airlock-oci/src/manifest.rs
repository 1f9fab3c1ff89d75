//! What the registry reads from a pushed manifest: its media type, what it
//! references, and its `subject`. The bytes themselves are stored as pushed and
//! never re-serialised (their digest is what clients pin).
//!
//! Media types are not checked against a list (artifacts carry their own);
//! only Docker schema 1, which has no content-addressed config, is refused.

use crate::error::OciError;
use crate::path::parse_digest;
use airlock_core::digest::AnyDigest;
use serde::Deserialize;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Whether `media_type` is one of the four manifest types of OCI and Docker
/// schema 2 (an upstream's `Content-Type` decides only when it is one).
pub fn is_manifest_type(media_type: &str) -> bool {
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&media_type)
}

const SCHEMA1: [&str; 3] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
];

/// A manifest's role in what it references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// The image's config blob.
    Config,
    /// A layer (or an artifact's blob).
    Layer,
    /// A child manifest of an index.
    Manifest,
}

impl RefKind {
    /// The value stored in `oci_manifest_reference.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Config => "config",
            RefKind::Layer => "layer",
            RefKind::Manifest => "manifest",
        }
    }
}

/// A descriptor the manifest points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referenced {
    /// What it is to the manifest.
    pub kind: RefKind,
    /// Its digest (sha256 or sha512).
    pub digest: AnyDigest,
    /// A layer with `urls` (Docker foreign / OCI non-distributable) may be
    /// absent from the registry.
    pub may_be_absent: bool,
}

/// What is recorded about a manifest.
#[derive(Clone, Debug)]
pub struct ManifestInfo {
    /// The media type it is served with.
    pub media_type: String,
    /// `artifactType`, else the config's media type (what the referrers API reports).
    pub artifact_type: Option<String>,
    /// The manifest this one refers to (signatures, SBOMs); it may not exist (yet).
    pub subject: Option<AnyDigest>,
    /// The `annotations` object, as JSON text, for referrers descriptors.
    pub annotations: Option<String>,
    /// Config, layers and child manifests, in document order.
    pub references: Vec<Referenced>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    blobs: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    urls: Vec<String>,
}

/// Reads a pushed manifest. `content_type` is the request's `Content-Type`
/// (without parameters), if any.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<ManifestInfo, OciError> {
    let doc: Document = serde_json::from_slice(bytes)
        .map_err(|e| OciError::ManifestInvalid(format!("not a manifest: {e}")))?;
    if doc.schema_version == Some(1)
        || content_type.is_some_and(|t| SCHEMA1[..2].contains(&t))
        || doc
            .media_type
            .as_deref()
            .is_some_and(|t| SCHEMA1.contains(&t))
    {
        return Err(OciError::ManifestInvalid(
            "Docker schema 1 manifests are not supported; push schema 2 or OCI".into(),
        ));
    }
    if doc.schema_version != Some(2) {
        return Err(OciError::ManifestInvalid("schemaVersion must be 2".into()));
    }
    let content_type = content_type.filter(|t| !t.is_empty() && *t != "application/octet-stream");
    let media_type = match (content_type, doc.media_type.as_deref()) {
        (Some(header), Some(body)) if header != body => {
            return Err(OciError::ManifestInvalid(format!(
                "Content-Type {header} does not match the manifest's mediaType {body}"
            )))
        }
        (Some(t), _) | (None, Some(t)) => t.to_owned(),
        (None, None) if !doc.manifests.is_empty() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    let mut references = Vec::new();
    let mut add = |kind, d: &Descriptor| -> Result<(), OciError> {
        references.push(Referenced {
            kind,
            digest: parse_digest(&d.digest)
                .map_err(|e| OciError::ManifestInvalid(format!("descriptor: {e}")))?,
            may_be_absent: kind == RefKind::Layer && !d.urls.is_empty(),
        });
        Ok(())
    };
    if let Some(config) = &doc.config {
        add(RefKind::Config, config)?;
    }
    for layer in doc.layers.iter().chain(&doc.blobs) {
        add(RefKind::Layer, layer)?;
    }
    for child in &doc.manifests {
        add(RefKind::Manifest, child)?;
    }
    let subject = doc
        .subject
        .as_ref()
        .map(|s| parse_digest(&s.digest))
        .transpose()
        .map_err(|e| OciError::ManifestInvalid(format!("subject: {e}")))?;
    // Empty is missing: then the config's media type (distribution-spec,
    // listing referrers).
    let artifact_type = doc
        .artifact_type
        .filter(|t| !t.is_empty())
        .or_else(|| doc.config.as_ref().and_then(|c| c.media_type.clone()))
        .filter(|t| !t.is_empty());
    let annotations = doc
        .annotations
        .filter(|a| !a.is_empty())
        .map(|a| serde_json::Value::Object(a).to_string());
    Ok(ManifestInfo {
        media_type,
        artifact_type,
        subject,
        annotations,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn an_image_with_a_subject_and_a_foreign_layer() {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x-sig",
            "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{A}","size":2}},
            "layers":[{{"mediaType":"x","digest":"{B}","size":1,"urls":["http://x"]}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{B}","size":3}},
            "annotations":{{"k":"v"}},"unknown":true}}"#
        );
        let info = parse(doc.as_bytes(), Some(OCI_MANIFEST)).expect("parse");
        assert_eq!(info.media_type, OCI_MANIFEST);
        assert_eq!(info.artifact_type.as_deref(), Some("application/x-sig"));
        assert_eq!(info.subject.map(|d| d.to_string()).as_deref(), Some(B));
        assert_eq!(info.annotations.as_deref(), Some(r#"{"k":"v"}"#));
        assert_eq!(info.references.len(), 2);
        assert!(info.references[1].may_be_absent);
        // An empty artifactType is a missing one: the config's media type.
        let empty = doc.replace("application/x-sig", "");
        let info = parse(empty.as_bytes(), Some(OCI_MANIFEST)).expect("parse");
        assert_eq!(
            info.artifact_type.as_deref(),
            Some("application/vnd.oci.empty.v1+json")
        );
    }

    #[test]
    fn an_index_without_media_type_and_refusals() {
        let doc = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{A}","size":1}}]}}"#);
        let info = parse(doc.as_bytes(), None).expect("parse");
        assert_eq!(info.media_type, OCI_INDEX);
        assert_eq!(info.references[0].kind, RefKind::Manifest);
        assert_eq!(info.artifact_type, None);
        for (doc, ct) in [
            (r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#, None),
            (r#"{"schemaVersion":2}"#, Some(SCHEMA1[1])),
            (r#"{"schemaVersion":2,"mediaType":"a/b"}"#, Some("c/d")),
            (r#"{"schemaVersion":3}"#, None),
            (
                r#"{"schemaVersion":2,"layers":[{"digest":"sha256:x"}]}"#,
                None,
            ),
            ("not json", None),
        ] {
            let e = parse(doc.as_bytes(), ct).expect_err(doc);
            assert_eq!(e.code(), "MANIFEST_INVALID", "{doc}");
        }
    }
}
