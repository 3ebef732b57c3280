//! The README's CLI reference: pasteable install line and every variable the CLI reads.

const README: &str = include_str!("../../README.md");

#[test]
fn the_install_line_uses_the_lock_file() {
    assert!(README.contains("cargo install --path cli --locked"));
    for line in README
        .lines()
        .filter(|l| l.contains("cargo install --path cli"))
    {
        assert!(line.contains("--locked"), "without --locked: {line}");
    }
}

#[test]
fn every_variable_the_cli_reads_is_in_one_table() {
    let table: Vec<&str> = README
        .lines()
        .skip_while(|l| !l.starts_with("Environment variables the CLI reads"))
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let table = table.join("\n");
    for var in [
        "OPEN_EVENT_APP_ID",
        "OPEN_EVENT_APP_SECRET",
        "APP_ID",
        "APP_SECRET",
        "OPEN_EVENT_ENDPOINT",
        "HTTPS_PROXY",
        "NO_PROXY",
        "NO_COLOR",
    ] {
        assert!(
            table.contains(&format!("`{var}`")),
            "{var} missing from:\n{table}"
        );
    }
}
