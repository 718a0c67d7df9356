"""agentbus: the Python client of the agentbus message bus."""
