"""Use cases: one function per API operation. They take an `Access` (who, which
branch) and validated input, apply the domain rules and call the repositories."""
