"""Chain adapter: the local anvil devnet, our contracts' build artifacts and their deployment.

Layering: ``chain`` is an adapter; it may import the domain and ``clearinghouse.errors`` but
never a transport.
"""
