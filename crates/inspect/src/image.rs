//! Container images: a `docker save` archive (plain or gzip-compressed) or an OCI image layout
//! (a directory, or a tar of one). Layers are applied in order, whiteouts honoured (`.wh.NAME`
//! removes NAME, `.wh..wh..opq` empties a directory of what lower layers put there), and only the
//! files inventories are read from are kept — in memory, never written anywhere.
//!
//! Hostile archives are refused with a clear error: an entry climbing out with `..` or naming an
//! absolute path, a layer that decompresses to far more than it could hold (a gzip bomb), a
//! manifest or index too large to be real. Symbolic links are resolved inside the image only: a
//! link to `/etc/shadow` or `../../..` means the image's own file system, never the host's.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use crate::inventory::Format;

/// Largest manifest, index or config read.
const MAX_JSON: u64 = 4 << 20;
/// Largest file kept from a layer (an rpmdb of a big image is ~100 MB).
const MAX_FILE: u64 = 512 << 20;
/// A layer may not decompress to more than this many times its compressed size once past
/// `BOMB_FLOOR` bytes: real layers compress 2–10×; a gzip bomb, 1000×.
const BOMB_RATIO: u64 = 200;
const BOMB_FLOOR: u64 = 1 << 30;
/// Entries per layer.
const MAX_ENTRIES: usize = 2_000_000;

#[derive(Debug, thiserror::Error)]
#[error("{image}: {message}")]
pub struct ImageError {
    pub image: String,
    pub message: String,
}

/// One kept file and the layer that last wrote it.
#[derive(Debug, Clone)]
pub struct ImageFile {
    pub bytes: Vec<u8>,
    pub layer: String,
}

/// The image's files that matter for an inventory, after all layers.
#[derive(Debug, Default)]
pub struct ImageTree {
    pub files: BTreeMap<String, ImageFile>,
    pub symlinks: BTreeMap<String, String>,
    pub layers: Vec<String>,
    pub repo_tags: Vec<String>,
    pub config_digest: Option<String>,
}

impl ImageTree {
    /// Reads a file, following symbolic links inside the image (at most 40 hops).
    pub fn read(&self, path: &str) -> Option<&ImageFile> {
        let mut p = normalize_inside(path);
        for _ in 0..40 {
            if let Some(f) = self.files.get(&p) {
                return Some(f);
            }
            // A link on the path itself or on one of its parent directories.
            let mut resolved = None;
            let parts: Vec<&str> = p.split('/').collect();
            for i in (1..=parts.len()).rev() {
                let prefix = parts[..i].join("/");
                if let Some(target) = self.symlinks.get(&prefix) {
                    let base = if target.starts_with('/') {
                        String::new()
                    } else {
                        parts[..i - 1].join("/")
                    };
                    let rest = parts[i..].join("/");
                    resolved = Some(normalize_inside(&format!("{base}/{target}/{rest}")));
                    break;
                }
            }
            p = resolved?;
        }
        None
    }
}

/// `a/./b/../c` → `a/c`; `..` at the top stays at the top (a chroot never climbs out).
fn normalize_inside(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

/// Does an inventory need this file?
fn wanted(path: &str) -> bool {
    Format::detect(path).is_some()
        || matches!(path, "etc/os-release" | "usr/lib/os-release")
        || path.ends_with("requirements.txt")
        || (path.contains("requirements") && path.ends_with(".txt"))
}

struct Ctx<'a> {
    image: &'a str,
}

impl Ctx<'_> {
    fn err(&self, message: impl std::fmt::Display) -> ImageError {
        ImageError {
            image: self.image.to_string(),
            message: message.to_string(),
        }
    }
}

/// An entry name from a layer, checked: relative, no `..`.
fn entry_path(ctx: &Ctx<'_>, layer: &str, raw: &str) -> Result<String, ImageError> {
    let trimmed = raw.trim_start_matches("./");
    if trimmed.starts_with('/') {
        return Err(ctx.err(format!(
            "layer {layer}: entry {raw:?} is an absolute path (hostile archive)"
        )));
    }
    if trimmed.split('/').any(|c| c == "..") {
        return Err(ctx.err(format!(
            "layer {layer}: entry {raw:?} climbs out with '..' (hostile archive)"
        )));
    }
    Ok(normalize_inside(trimmed))
}

/// Counts bytes read, to refuse decompression bombs.
struct Counted<R> {
    inner: R,
    n: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        if self.n > self.limit {
            return Err(std::io::Error::other(format!(
                "decompresses to more than {} bytes (a decompression bomb?)",
                self.limit
            )));
        }
        Ok(k)
    }
}

/// Applies one layer (a tar, possibly gzip or zstd compressed) to the tree.
fn apply_layer(
    ctx: &Ctx<'_>,
    tree: &mut ImageTree,
    layer: &str,
    mut blob: impl Read,
    compressed_size: u64,
) -> Result<(), ImageError> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let k = blob
            .read(&mut magic[got..])
            .map_err(|e| ctx.err(format!("layer {layer}: {e}")))?;
        if k == 0 {
            break;
        }
        got += k;
    }
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let chained = head.chain(blob);
    let limit = BOMB_FLOOR.max(compressed_size.saturating_mul(BOMB_RATIO));
    let reader: Box<dyn Read> = if magic[..2] == [0x1f, 0x8b] {
        Box::new(Counted {
            inner: flate2::read::MultiGzDecoder::new(chained),
            n: 0,
            limit,
        })
    } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let dec = zstd::stream::read::Decoder::new(chained)
            .map_err(|e| ctx.err(format!("layer {layer}: {e}")))?;
        Box::new(Counted {
            inner: dec,
            n: 0,
            limit,
        })
    } else {
        Box::new(chained)
    };
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| ctx.err(format!("layer {layer}: not a tar archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count > MAX_ENTRIES {
            return Err(ctx.err(format!("layer {layer}: more than {MAX_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| ctx.err(format!("layer {layer}: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = entry_path(ctx, layer, &raw)?;
        if path.is_empty() {
            continue;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == ".wh..wh..opq" {
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            tree.files.retain(|k, _| !k.starts_with(&prefix));
            tree.symlinks.retain(|k, _| !k.starts_with(&prefix));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            };
            let sub = format!("{gone}/");
            tree.files.retain(|k, _| *k != gone && !k.starts_with(&sub));
            tree.symlinks
                .retain(|k, _| *k != gone && !k.starts_with(&sub));
            continue;
        }
        let kind = entry.header().entry_type();
        // A new entry replaces whatever lower layers had at that path.
        tree.files.remove(&path);
        tree.symlinks.remove(&path);
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let target = if kind.is_hard_link() {
                    // Hard links name another entry of the archive, from its root.
                    format!("/{}", target.trim_start_matches("./"))
                } else {
                    target
                };
                tree.symlinks.insert(path, target);
            }
            continue;
        }
        if !kind.is_file() || !wanted(&path) {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        if size > MAX_FILE {
            return Err(ctx.err(format!(
                "layer {layer}: {path} is {size} bytes, more than the {MAX_FILE} read per file"
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| ctx.err(format!("layer {layer}: {path}: {e}")))?;
        tree.files.insert(
            path,
            ImageFile {
                bytes,
                layer: layer.to_string(),
            },
        );
    }
    Ok(())
}

/// Where an archive's blobs come from: a directory, or entries of an (uncompressed) tar file.
enum Source {
    Dir(std::path::PathBuf),
    Tar {
        file: std::fs::File,
        /// entry name → (offset, size)
        index: BTreeMap<String, (u64, u64)>,
    },
}

impl Source {
    fn size(&self, name: &str) -> Option<u64> {
        match self {
            Source::Dir(d) => std::fs::metadata(d.join(name)).ok().map(|m| m.len()),
            Source::Tar { index, .. } => index.get(name).map(|(_, s)| *s),
        }
    }

    fn open(&mut self, ctx: &Ctx<'_>, name: &str) -> Result<Box<dyn Read + '_>, ImageError> {
        let name = normalize_inside(name);
        match self {
            Source::Dir(d) => {
                let f = std::fs::File::open(d.join(&name))
                    .map_err(|e| ctx.err(format!("{name}: {e}")))?;
                Ok(Box::new(std::io::BufReader::new(f)))
            }
            Source::Tar { file, index } => {
                let (offset, size) = *index
                    .get(&name)
                    .ok_or_else(|| ctx.err(format!("{name}: not in the archive")))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| ctx.err(format!("{name}: {e}")))?;
                Ok(Box::new(std::io::BufReader::new((&*file).take(size))))
            }
        }
    }

    fn json(&mut self, ctx: &Ctx<'_>, name: &str) -> Result<Value, ImageError> {
        if self.size(name).is_some_and(|s| s > MAX_JSON) {
            return Err(ctx.err(format!(
                "{name} is larger than {MAX_JSON} bytes: not a real manifest (hostile archive?)"
            )));
        }
        let mut bytes = Vec::new();
        self.open(ctx, name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ctx.err(format!("{name}: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| ctx.err(format!("{name}: not JSON: {e}")))
    }

    fn has(&self, name: &str) -> bool {
        self.size(name).is_some()
    }
}

fn blob_path(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric());
    (ok(alg) && ok(hex)).then(|| format!("blobs/{alg}/{hex}"))
}

/// Is this path an image we can read (an OCI layout directory, or a tar that may hold one)?
pub fn looks_like_image(path: &Path) -> bool {
    if path.is_dir() {
        return path.join("oci-layout").is_file() || path.join("index.json").is_file();
    }
    let name = path.to_string_lossy();
    name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Reads an image from a `docker save` tar (optionally gzip-compressed), an OCI layout tar, or
/// an OCI layout directory.
pub fn read_image(path: &Path) -> Result<ImageTree, ImageError> {
    let shown = path.display().to_string();
    let ctx = Ctx { image: &shown };
    // A compressed archive is unpacked into a private temporary file first (bounded).
    let mut source = if path.is_dir() {
        Source::Dir(path.to_path_buf())
    } else {
        let mut f = std::fs::File::open(path).map_err(|e| ctx.err(e))?;
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic).map_err(|e| ctx.err(e))?;
        f.seek(SeekFrom::Start(0)).map_err(|e| ctx.err(e))?;
        let file = if n == 2 && magic == [0x1f, 0x8b] {
            let compressed = f.metadata().map(|m| m.len()).unwrap_or(0);
            let mut t = tempfile::tempfile().map_err(|e| ctx.err(e))?;
            let mut dec = Counted {
                inner: flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)),
                n: 0,
                limit: BOMB_FLOOR.max(compressed.saturating_mul(BOMB_RATIO)),
            };
            std::io::copy(&mut dec, &mut t).map_err(|e| ctx.err(e))?;
            t.seek(SeekFrom::Start(0)).map_err(|e| ctx.err(e))?;
            t
        } else {
            f
        };
        let mut index = BTreeMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            let entries = ar
                .entries_with_seek()
                .map_err(|e| ctx.err(format!("not a tar archive: {e}")))?;
            for entry in entries {
                let entry = entry.map_err(|e| ctx.err(format!("not a tar archive: {e}")))?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let name = entry_path(&ctx, "(outer archive)", &raw)?;
                index.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        Source::Tar { file, index }
    };

    let mut tree = ImageTree::default();
    // docker save (also Docker 25+, which adds an OCI index): manifest.json lists the layers.
    let layers: Vec<(String, String)> = if source.has("manifest.json") {
        let m = source.json(&ctx, "manifest.json")?;
        let first = m
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| ctx.err("manifest.json lists no image"))?;
        tree.repo_tags = first["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tree.config_digest = first["Config"].as_str().map(String::from);
        first["Layers"]
            .as_array()
            .ok_or_else(|| ctx.err("manifest.json: no Layers"))?
            .iter()
            .map(|l| {
                let name = l.as_str().unwrap_or_default().to_string();
                let id = name
                    .trim_end_matches("/layer.tar")
                    .rsplit('/')
                    .next()
                    .unwrap_or(&name)
                    .to_string();
                (name, format!("sha256:{}", id.trim_start_matches("sha256:")))
            })
            .collect()
    } else if source.has("index.json") {
        // OCI layout: index → (nested index →) manifest → layers.
        let mut doc = source.json(&ctx, "index.json")?;
        let mut manifest = None;
        for _ in 0..4 {
            let Some(list) = doc["manifests"].as_array() else {
                manifest = Some(doc.clone());
                break;
            };
            let pick = list
                .iter()
                .find(|m| {
                    m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64"
                })
                .or_else(|| list.first())
                .ok_or_else(|| ctx.err("index.json lists no manifest"))?;
            if let Some(tag) = pick["annotations"]["org.opencontainers.image.ref.name"].as_str() {
                tree.repo_tags.push(tag.to_string());
            }
            let digest = pick["digest"].as_str().unwrap_or_default();
            let blob = blob_path(digest).ok_or_else(|| {
                ctx.err(format!("manifest digest {digest:?} is not algorithm:hex"))
            })?;
            doc = source.json(&ctx, &blob)?;
        }
        let manifest = manifest.ok_or_else(|| ctx.err("index nesting deeper than 4 levels"))?;
        tree.config_digest = manifest["config"]["digest"].as_str().map(String::from);
        manifest["layers"]
            .as_array()
            .ok_or_else(|| ctx.err("the image manifest has no layers"))?
            .iter()
            .map(|l| {
                let d = l["digest"].as_str().unwrap_or_default();
                blob_path(d)
                    .map(|b| (b, d.to_string()))
                    .ok_or_else(|| ctx.err(format!("layer digest {d:?} is not algorithm:hex")))
            })
            .collect::<Result<_, _>>()?
    } else {
        return Err(ctx.err(
            "neither a docker save archive (manifest.json) nor an OCI image layout (index.json)",
        ));
    };
    for (name, digest) in layers {
        let size = source.size(&name).unwrap_or(0);
        let blob = source.open(&ctx, &name)?;
        apply_layer(&ctx, &mut tree, &digest, blob, size)?;
        tree.layers.push(digest);
    }
    Ok(tree)
}

/// A function bundle (zip): its files, checked like image entries, kept if an inventory needs
/// them. Entries climbing out with `..` or absolute are refused; so is a zip bomb.
pub fn read_zip(path: &Path) -> Result<ImageTree, ImageError> {
    let shown = path.display().to_string();
    let ctx = Ctx { image: &shown };
    let file = std::fs::File::open(path).map_err(|e| ctx.err(e))?;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ctx.err(format!("not a zip archive: {e}")))?;
    let mut tree = ImageTree::default();
    let mut total = 0u64;
    let limit = BOMB_FLOOR.max(compressed.saturating_mul(BOMB_RATIO));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| ctx.err(e))?;
        let raw = entry.name().to_string();
        let name = entry_path(&ctx, "(zip)", &raw)?;
        if !entry.is_file() || !wanted(&name) {
            continue;
        }
        if entry.size() > MAX_FILE {
            return Err(ctx.err(format!(
                "{name} is {} bytes, more than {MAX_FILE}",
                entry.size()
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ctx.err(format!("{name}: {e}")))?;
        total += bytes.len() as u64;
        if total > limit {
            return Err(ctx.err("decompresses to far more than its size (a zip bomb?)"));
        }
        tree.files.insert(
            name,
            ImageFile {
                bytes,
                layer: String::new(),
            },
        );
    }
    Ok(tree)
}
