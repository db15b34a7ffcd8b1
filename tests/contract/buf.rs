//! The proto contract: `buf lint` (STANDARD and COMMENTS, with the exceptions buf.yaml gives
//! reasons for) and `buf breaking` against the last released contract
//! (contract/aspflow-v1.binpb). buf comes from the npm registry (`npm ci --prefix .ci/buf`).

use std::process::Command;

use super::{root, tool};

fn buf() -> Option<std::path::PathBuf> {
    let local = root().join(".ci/buf/node_modules/.bin/buf");
    tool(
        local.exists().then_some(local),
        "buf",
        "npm ci --prefix .ci/buf",
    )
}

fn run(args: &[&str]) -> std::process::Output {
    let buf = buf().expect("checked by the caller");
    Command::new(buf)
        .args(args)
        .current_dir(root())
        .output()
        .expect("buf runs")
}

fn report(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_proto_passes_buf_lint() {
    if buf().is_none() {
        return;
    }
    let out = run(&["lint"]);
    assert!(
        out.status.success(),
        "buf lint: every RPC, message and field needs a comment, names follow buf's STANDARD \
         rules (see buf.yaml):\n{}",
        report(&out)
    );
}

#[test]
fn the_proto_does_not_break_the_released_contract() {
    if buf().is_none() {
        return;
    }
    let out = run(&[
        "breaking",
        "proto",
        "--against",
        "contract/aspflow-v1.binpb",
    ]);
    assert!(
        out.status.success(),
        "buf breaking against the released aspflow.v1 contract (docs/api.md, Compatibility \
         policy): add, never rename, renumber, retype or remove:\n{}",
        report(&out)
    );
}

/// The check is not vacuous: a renumbered field in a copy of the proto is reported.
#[test]
fn a_breaking_change_is_reported() {
    if buf().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("proto/aspflow/v1");
    std::fs::create_dir_all(&proto).unwrap();
    for entry in std::fs::read_dir(root().join("proto/aspflow/v1")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "server.proto" {
            let before = text.clone();
            text = text.replace("uint64 head_position = 3;", "uint64 head_position = 4;");
            assert_ne!(text, before, "server.proto no longer has head_position = 3");
        }
        std::fs::write(proto.join(path.file_name().unwrap()), text).unwrap();
    }
    std::fs::copy(root().join("buf.yaml"), dir.path().join("buf.yaml")).unwrap();
    let against = root().join("contract/aspflow-v1.binpb");
    let out = Command::new(buf().unwrap())
        .args(["breaking", "proto", "--against"])
        .arg(&against)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a renumbered field passed buf breaking"
    );
    assert!(report(&out).contains("head_position"), "{}", report(&out));
}
