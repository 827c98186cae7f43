"""The types and rules every layer shares: values, refusals, named limits. Imports nothing of
the transports, services or adapters."""
