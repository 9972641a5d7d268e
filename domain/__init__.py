"""Domain vocabulary shared by every layer: errors, user-facing messages, states, roles."""
