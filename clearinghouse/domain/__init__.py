"""The types and rules every layer shares: imports nothing of the transports, services or adapters."""
