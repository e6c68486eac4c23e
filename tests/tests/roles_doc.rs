//! docs/ROLES.md is what the policy says: the matrix is generated from it, and this fails when
//! the document and the policy part (`AIPM_UPDATE_ROLES=1` rewrites it).

#[test]
fn the_roles_document_is_the_policys_matrix() {
    let path = aipm_tests::repo_root().join("docs/ROLES.md");
    let generated = aipm_tests::roles::document();
    if std::env::var_os("AIPM_UPDATE_ROLES").is_some() {
        std::fs::write(&path, &generated).expect("cannot write docs/ROLES.md");
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        current, generated,
        "docs/ROLES.md is not the policy's matrix; AIPM_UPDATE_ROLES=1 cargo test -p aipm-tests \
         --test roles_doc rewrites it"
    );
}
