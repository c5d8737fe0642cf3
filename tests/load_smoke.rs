//! A short, bounded run of `scripts/loadtest.sh` against the test binary:
//! 200 calls at 50 calls/s must all complete, and the case log must hold
//! exactly one case per call.

mod common;

#[test]
fn loadtest_smoke_200_calls() {
    common::require("sipp");
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(common::repo().join("scripts/loadtest.sh"))
        .args([
            "--bin",
            env!("CARGO_BIN_EXE_siaga112"),
            "--rate",
            "50",
            "--calls",
            "200",
            "--seats",
            "20",
        ])
        .output()
        .expect("run loadtest.sh");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("attempted 200  completed 200  failed 0 "),
        "{text}"
    );
    assert!(
        text.contains("cases in the case log: 200 (calls that reached the engine: 200)"),
        "{text}"
    );
}
