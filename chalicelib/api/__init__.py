"""HTTP adapter: routes, request parsing, problem+json answers, OpenAPI."""
