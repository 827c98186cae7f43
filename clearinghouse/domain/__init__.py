"""The types and rules every layer shares: values, refusals, named limits."""
