//! The agent's own unprivileged user: who it runs as, and handing its workspace over to it
//! before the run and back to the worker after.
//!
//! The agent runs code a model wrote, so it must not act as the worker: not with the worker's
//! AWS role (the user data blocks the metadata service for this user), not with its
//! environment (the agent's is built from scratch), not with its files (they are the worker's,
//! mode 0600 under `UMask=0077`). The worker holds only CAP_SETUID, CAP_SETGID, CAP_CHOWN and
//! CAP_KILL for this (deploy/aipm-worker.service), and the agent gets none of them.

use std::io;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::{Path, PathBuf};

/// The account the agent runs as (`AIPM_AGENT_USER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl AgentUser {
    /// The account named `name`, from the system's user database.
    pub fn lookup(name: &str) -> Result<Self, String> {
        match nix::unistd::User::from_name(name) {
            Ok(Some(user)) if user.uid.is_root() => Err(format!(
                "AIPM_AGENT_USER={name} is root; the agent needs an unprivileged account"
            )),
            Ok(Some(user)) => Ok(Self {
                name: user.name,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                home: user.dir,
            }),
            Ok(None) => Err(format!(
                "AIPM_AGENT_USER={name}: no such user (the worker's install.sh creates aipm-agent)"
            )),
            Err(error) => Err(format!("AIPM_AGENT_USER={name}: {error}")),
        }
    }
}

/// Switches the calling process to `user` for good: its group alone, then its gid and uid, and
/// no ambient capabilities, so that the program it executes next starts with none. Runs between
/// fork and exec (`pre_exec`): raw system calls only, nothing that allocates.
pub fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    let groups = [gid];
    // SAFETY: plain system calls on values owned by this frame.
    unsafe {
        if libc::setgroups(1, groups.as_ptr()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // Ambient capabilities survive execve; the worker's must not reach the agent. EINVAL
        // means a kernel without ambient capabilities, where there is nothing to clear.
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
            && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Gives `path` and everything under it to `uid:gid`, children first (once a directory is the
/// agent's, mode 0700, the worker could no longer list it). Symbolic links are re-owned, never
/// followed.
pub fn hand_over(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            hand_over(&entry?.path(), uid, gid)?;
        }
    }
    lchown(path, Some(uid), Some(gid))
}

/// Takes `path` and everything under it back for `uid:gid`, parents first, making each
/// directory listable and each file readable for its new owner whatever mode the agent left.
/// Symbolic links are re-owned, never followed, and never written through.
pub fn take_back(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    lchown(path, Some(uid), Some(gid))?;
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let owner_bits = if metadata.is_dir() { 0o700 } else { 0o600 };
    let mode = metadata.permissions().mode();
    if mode & owner_bits != owner_bits {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | owner_bits))?;
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            take_back(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn root_and_unknown_accounts_are_refused_by_name() {
        let root = AgentUser::lookup("root").unwrap_err();
        assert!(root.contains("unprivileged"), "{root}");
        let missing = AgentUser::lookup("no-such-aipm-user").unwrap_err();
        assert!(missing.contains("no such user"), "{missing}");
        let nobody = AgentUser::lookup("nobody").unwrap();
        assert_ne!(nobody.uid, 0);
    }

    #[test]
    fn a_tree_goes_over_and_comes_back_whatever_modes_it_was_left_with() {
        let root = std::env::temp_dir().join(format!("aipm-isolation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::write(root.join("src/deep/file.rs"), "fn main() {}").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("src/link")).unwrap();
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        // As an unprivileged user the owner stays the same; the walk and the modes are what
        // this checks. (worker_e2e runs the real hand-over as root.)
        hand_over(&root, uid, gid).unwrap();
        std::fs::set_permissions(
            root.join("src/deep/file.rs"),
            PermissionsExt::from_mode(0o000),
        )
        .unwrap();
        std::fs::set_permissions(root.join("src/deep"), PermissionsExt::from_mode(0o000)).unwrap();
        take_back(&root, uid, gid).unwrap();
        let file = std::fs::metadata(root.join("src/deep/file.rs")).unwrap();
        assert_eq!(file.mode() & 0o600, 0o600);
        assert_eq!(file.uid(), uid);
        assert_eq!(
            std::fs::read_to_string(root.join("src/deep/file.rs")).unwrap(),
            "fn main() {}"
        );
        let link = std::fs::symlink_metadata(root.join("src/link")).unwrap();
        assert!(link.file_type().is_symlink(), "links are not followed");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
