"""Tools the model can call (issue 15): the registry, the built-in tools, the approval policy, the loop that runs
them inside a reply, and operator-configured MCP servers."""
