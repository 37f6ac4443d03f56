//! Writing PKI files: private keys are created with mode 0600 from the start (no window in which
//! another user could read them).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Writes a private key file readable by the owner only.
pub(crate) fn write_secret(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    // The mode above only applies to new files; tighten an existing one too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes a public file (certificate, CRL, index), replacing it atomically.
pub(crate) fn write_public(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(tmp, path)
}
