"""Use cases of the control plane. Each public method is one unit of work: it opens a
transaction, checks the principal's permission, stages rows through repositories and an
audit event, and commits them together."""
