// tauri.conf.json and icons/ live at the repository root (the single source of truth); the
// capabilities live with the shell's sources.
fn main() {
    if let Err(e) = tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*"),
    ) {
        eprintln!("tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
