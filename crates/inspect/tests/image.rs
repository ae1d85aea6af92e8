//! Container images: layers applied in order with whiteouts, links resolved inside the image,
//! and hostile archives refused with a clear error.

use std::io::Write;
use std::path::Path;

use mamori_inspect::image::read_image;
use mamori_inspect::scan::collect;
use mamori_inspect::testkit::{E, demo_image, docker_save, layer};

#[test]
fn layers_apply_in_order_with_whiteouts_and_links_inside_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("demo.tar");
    demo_image(&img);
    let tree = read_image(&img).unwrap();
    assert_eq!(tree.repo_tags, vec!["demo:1".to_string()]);
    assert_eq!(tree.layers.len(), 2);
    let inv = collect(&img).unwrap();
    assert_eq!(
        inv.os.as_ref().map(|o| o.id.as_str()),
        Some("debian"),
        "os-release through its link"
    );
    let mut names: Vec<(String, String)> = inv
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.ecosystem.clone()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("demo-crate".to_string(), "crates.io".to_string()),
            ("demo-lib".to_string(), "Debian:12".to_string()),
        ],
        "gone-pkg (overwritten), app/old (whiteout) and opt/x (opaque) are gone"
    );
    let demo = inv
        .packages
        .iter()
        .find(|p| p.name == "demo-crate")
        .unwrap();
    assert_eq!(demo.file_path, "app/Cargo.lock");
    assert_eq!(demo.source_layer.as_deref(), Some(tree.layers[0].as_str()));
    let lib = inv.packages.iter().find(|p| p.name == "demo-lib").unwrap();
    assert_eq!(lib.source_layer.as_deref(), Some(tree.layers[1].as_str()));
}

#[test]
fn a_link_out_of_the_image_reads_nothing_of_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("escape.tar");
    let l = layer(&[
        E::Link("etc/os-release", "../../../../../../etc/os-release"),
        E::Link("app/Cargo.lock", "/proc/self/environ"),
        E::File("app/requirements.txt", b"-r ../../../../etc/passwd\n"),
    ]);
    docker_save(&img, &[l]);
    let inv = collect(&img).unwrap();
    assert!(inv.os.is_none(), "the host's /etc/os-release was not read");
    assert!(inv.packages.is_empty());
}

fn refused(img: &Path, needle: &str) {
    let err = read_image(img).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains(needle), "{err}");
    assert!(
        err.contains(&img.display().to_string()),
        "names the image: {err}"
    );
}

#[test]
fn hostile_archives_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("traversal.tar");
    docker_save(&img, &[layer(&[E::Raw("../../etc/cron.d/evil", b"x")])]);
    refused(&img, "climbs out");

    let img = tmp.path().join("absolute.tar");
    docker_save(&img, &[layer(&[E::Raw("/etc/passwd", b"x")])]);
    refused(&img, "absolute path");

    let img = tmp.path().join("manifest.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&img).unwrap());
        let big = format!("[{}]", " ".repeat(5 << 20));
        let mut h = tar::Header::new_gnu();
        h.set_size(big.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", big.as_bytes())
            .unwrap();
        b.finish().unwrap();
    }
    refused(&img, "not a real manifest");

    // A gzip bomb: 1.1 GiB of zeros in a ~1 MB layer — built as concatenated gzip members (one
    // compressed 8 MiB block of zeros, repeated), which is what a bomb is and costs nothing to make.
    let img = tmp.path().join("bomb.tar");
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let block = 8usize << 20;
    let blocks = 140;
    let size = (block * blocks) as u64;
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bomb = gz(header.as_bytes());
    let zeros = gz(&vec![0u8; block]);
    for _ in 0..blocks {
        bomb.extend_from_slice(&zeros);
    }
    bomb.extend_from_slice(&gz(&[0u8; 1024]));
    assert!(bomb.len() < 8 << 20, "{} bytes", bomb.len());
    docker_save(&img, &[bomb]);
    refused(&img, "decompression bomb");

    let img = tmp.path().join("garbage.tar");
    std::fs::File::create(&img)
        .unwrap()
        .write_all(b"not an archive at all")
        .unwrap();
    assert!(read_image(&img).is_err());
}
