"""Chain adapter: reading the Livepeer contracts, watching our sender's events, judging the
deposit, funding it, and the local anvil devnet.

    client.py     ChainClient: typed reads through the Controller (TicketBroker, RoundsManager,
                  BondingManager), chain_view(sender), block refs and logs
    watcher.py    ChainWatcher: our sender's TicketBroker events and NewRound into the ledger;
                  resumable cursor, confirmations, reorgs undone, redemptions matched to records
    health.py     the deposit-health judgement (pure): ok / warn / critical and every reason
    monitor.py    DepositMonitor: the signer's live chain view guarded by deposit health; alerts
    rounds.py     RoundBlockHashes: the open rounds' RoundsManager block hashes, read once per round
    orchestrators.py  ActiveOrchestrators: whether a recipient is active this round, cached
    view.py       LiveChainView: background refresh, refuses signing when the data is stale
    funding.py    fund, reserve, unlock, cancel-unlock, withdraw: planned, confirmed, sent
    replenishment.py  the deposit replenishment policy applied: decide, record, observe or send
    replenish_policy.py  its settings and targets (import-free, for the configuration)
    limits.py     watcher defaults the configuration shares
    errors.py     ChainError, ChainUnavailable, ContractMismatch (funding's errors derive from it)
    redact.py     RPC URL redaction for messages and library log lines
    anvil.py      start/stop the pinned anvil; snapshots, state dumps, mining
    artifacts.py  compiled devnet contracts
    devnet.py     deploy the devnet, drive its rounds, provision a funded sender and a config

Layering: ``chain`` is an adapter; it may import the domain and ``clearinghouse.errors`` but
never a transport. client.py, view.py and monitor.py also import the signer type they serve,
``ChainView`` (nothing else of ``signer``), and refuse with the domain's ``SigningRefused``.
watcher.py and monitor.py read and write the ledger through its public functions only.
"""
