//! Test support: builds small container image archives (not used by mamori itself).
#![doc(hidden)]

use std::path::Path;

pub enum E<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
    /// A name written raw into the header, bypassing the tar crate's own checks.
    Raw(&'a str, &'a [u8]),
}

pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(path, data) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, path, *data).unwrap();
            }
            E::Link(path, target) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
            E::Raw(path, data) => {
                let mut h = tar::Header::new_gnu();
                h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A `docker save` archive of the given layers.
pub fn docker_save(path: &Path, layers: &[Vec<u8>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i:064x}/layer.tar");
        let mut h = tar::Header::new_gnu();
        h.set_size(l.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, &l[..]).unwrap();
        names.push(name);
    }
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": ["demo:1"], "Layers": names}]);
    let m = manifest.to_string();
    let mut h = tar::Header::new_gnu();
    h.set_size(m.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.json", m.as_bytes())
        .unwrap();
    b.finish().unwrap();
}

const STATUS: &str = "Package: demo-lib\nStatus: install ok installed\nVersion: 1.0-1\nSource: demo-src\nArchitecture: amd64\n\nPackage: gone-pkg\nStatus: install ok installed\nVersion: 2.0\n";
const STATUS2: &str = "Package: demo-lib\nStatus: install ok installed\nVersion: 1.0-1\nSource: demo-src\nArchitecture: amd64\n";
const LOCK: &str = "version = 3\n\n[[package]]\nname = \"demo-crate\"\nversion = \"1.1.9\"\n";
const OLD_LOCK: &str = "version = 3\n\n[[package]]\nname = \"other-crate\"\nversion = \"0.1.0\"\n";

/// Two layers: Debian 12 (os-release through a link), a dpkg status with demo-lib (source
/// demo-src 1.0-1) and gone-pkg, app/Cargo.lock (demo-crate 1.1.9), app/old/Cargo.lock and
/// opt/x/Cargo.lock (other-crate); the second layer rewrites the status without gone-pkg, whites
/// out app/old and makes opt/x opaque.
pub fn demo_image(path: &Path) {
    let l1 = layer(&[
        E::File(
            "usr/lib/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        ),
        E::Link("etc/os-release", "../usr/lib/os-release"),
        E::File("var/lib/dpkg/status", STATUS.as_bytes()),
        E::File("app/Cargo.lock", LOCK.as_bytes()),
        E::File("app/old/Cargo.lock", OLD_LOCK.as_bytes()),
        E::File("opt/x/Cargo.lock", OLD_LOCK.as_bytes()),
    ]);
    let l2 = layer(&[
        E::File("var/lib/dpkg/status", STATUS2.as_bytes()),
        E::File("app/.wh.old", b""),
        E::File("opt/x/.wh..wh..opq", b""),
    ]);
    docker_save(path, &[l1, l2]);
}
