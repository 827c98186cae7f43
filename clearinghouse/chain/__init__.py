"""Chain adapter: reading the Livepeer contracts, and the local anvil devnet.

    client.py     ChainClient: typed reads through the Controller (TicketBroker, RoundsManager,
                  BondingManager), chain_view(sender) for the signer
    view.py       LiveChainView: background refresh, refuses signing when the data is stale
    errors.py     ChainError, ChainUnavailable, ContractMismatch
    redact.py     RPC URL redaction for messages and library log lines
    anvil.py      start/stop the pinned anvil; snapshots, state dumps, mining
    artifacts.py  compiled devnet contracts
    devnet.py     deploy the devnet, drive its rounds, provision a funded sender and a config

Layering: ``chain`` is an adapter; it may import the domain and ``clearinghouse.errors`` but
never a transport. client.py and view.py also import the two signer types they serve,
``ChainView`` and ``SigningRefused``/``Refusal`` (nothing else of ``signer``).
"""
