//! `ui/src/bindings.ts` must be exactly what the Rust commands generate: a stale file fails.
//! Regenerate with `LEXINAUT_UPDATE_BINDINGS=1 cargo test --test desktop`.

use std::path::Path;

#[test]
fn bindings_are_up_to_date() {
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/bindings.ts");
    if std::env::var_os("LEXINAUT_UPDATE_BINDINGS").is_some() {
        lexinaut_desktop::export_bindings(&checked_in).expect("export bindings");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = dir.path().join("bindings.ts");
    lexinaut_desktop::export_bindings(&fresh).expect("export bindings");
    let fresh = std::fs::read_to_string(&fresh).expect("read fresh bindings");
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        fresh == current,
        "ui/src/bindings.ts is stale: run LEXINAUT_UPDATE_BINDINGS=1 cargo test --test desktop"
    );
}
