//! `scripts/find-libclang.sh`: the set-up installs libclang-dev unless a
//! libclang that bindgen can load is there. Debian's LLVM brings
//! `libclang-cpp.so.<ver>`, which matches `libclang*` but is not one.

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/find-libclang.sh")
}

/// A shared library at `path`, exporting `clang_createIndex` or not.
fn library(path: &Path, exports_create_index: bool) {
    let src = path.with_extension("c");
    let symbol = if exports_create_index { "clang_createIndex" } else { "clang_cpp_something" };
    std::fs::write(&src, format!("void *{symbol}(int a, int b) {{ return 0; }}\n")).unwrap();
    let out = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(path).arg(&src).output().unwrap();
    assert!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(src).unwrap();
}

/// What the script finds searching only `dirs`.
fn find(dirs: &[&Path]) -> Option<String> {
    let out = Command::new("bash").arg(script()).args(dirs).env_remove("LIBCLANG_PATH").output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn libclang_cpp_alone_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    library(&dir.path().join("libclang-cpp.so.14"), false);
    assert_eq!(find(&[dir.path()]), None, "libclang-cpp is the C++ interface, not the library bindgen loads");
    // Even if it happened to export the symbol, its name rules it out.
    let other = tempfile::tempdir().unwrap();
    library(&other.path().join("libclang-cpp.so.14"), true);
    assert_eq!(find(&[other.path()]), None);
}

#[test]
fn a_loadable_libclang_is_found_by_each_name_bindgen_uses() {
    for name in ["libclang.so", "libclang.so.1", "libclang-14.so", "libclang-14.so.1"] {
        let dir = tempfile::tempdir().unwrap();
        library(&dir.path().join("libclang-cpp.so.14"), false);
        let lib = dir.path().join(name);
        library(&lib, true);
        assert_eq!(find(&[dir.path()]).as_deref(), Some(lib.to_str().unwrap()), "{name}");
    }
}

#[test]
fn a_file_named_libclang_without_the_entry_point_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    library(&dir.path().join("libclang.so"), false);
    assert_eq!(find(&[dir.path()]), None);
}

#[test]
fn libclang_path_is_searched_first() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    library(&a.path().join("libclang.so"), true);
    library(&b.path().join("libclang.so"), true);
    let out = Command::new("bash").arg(script()).arg(a.path()).env("LIBCLANG_PATH", b.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), b.path().join("libclang.so").to_str().unwrap());
}

#[test]
fn nothing_found_in_empty_or_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(find(&[dir.path(), Path::new("/nonexistent/weir")]), None);
}
