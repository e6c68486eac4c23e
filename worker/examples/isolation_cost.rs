//! What running the agent as its own user costs per task (scripts/bench): handing a checkout
//! of N files to the agent's account and taking it back, the only per-task work the isolation
//! adds (switching uid at exec is one system call). Runs as root to switch to `nobody`;
//! otherwise it re-owns to the caller, which walks the same tree.

use std::time::Instant;

use aipm_worker::isolation::{AgentUser, hand_over, take_back};

fn tree(root: &std::path::Path, files: usize) {
    for n in 0..files {
        let dir = root.join(format!("src/module{}/part{}", n % 50, n % 7));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        std::fs::write(dir.join(format!("file{n}.rs")), "pub fn f() {}\n").expect("a file");
    }
}

fn main() {
    let root_user = nix::unistd::Uid::effective().is_root();
    let (agent_uid, agent_gid) = if root_user {
        let nobody = AgentUser::lookup("nobody").expect("the nobody account");
        (nobody.uid, nobody.gid)
    } else {
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    };
    let (own_uid, own_gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    println!("| checkout files | hand over ms | take back ms | per task ms |");
    println!("|---:|---:|---:|---:|");
    for files in [1_000, 10_000, 50_000] {
        let root = std::env::temp_dir().join(format!("aipm-isolation-cost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        tree(&root, files);
        let mut over = Vec::new();
        let mut back = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            hand_over(&root, agent_uid, agent_gid).expect("hand over");
            over.push(started.elapsed());
            let started = Instant::now();
            take_back(&root, own_uid, own_gid).expect("take back");
            back.push(started.elapsed());
        }
        over.sort();
        back.sort();
        let (over, back) = (over[2].as_secs_f64() * 1e3, back[2].as_secs_f64() * 1e3);
        println!("| {files} | {over:.1} | {back:.1} | {:.1} |", over + back);
        let _ = std::fs::remove_dir_all(&root);
    }
    if !root_user {
        println!("\n(not root: the tree was re-owned to the caller, not to another account)");
    }
}
