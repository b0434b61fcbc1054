"""Document-level access control: rules that label documents with groups at build time, identities with
groups, a view of the index limited to a caller's groups, and the audit log."""
