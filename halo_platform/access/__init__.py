"""Access control: API keys with scopes for machines, users with roles and sessions for people
(spec: access.md). The domains' routes declare the scope they need with `guard.requires`."""
