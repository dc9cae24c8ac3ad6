"""PKI, join tokens, authentication, RBAC and node restriction."""
