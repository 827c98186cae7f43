"""The types and rules every layer shares: pure values, no I/O, no SQLAlchemy, no web3.

Imports run one way (tests/test_architecture.py): transports → services → domain ← adapters;
the domain imports only ``clearinghouse.errors`` and itself.

Modules: ``money`` (Wei, Address, byte lengths), ``ev`` (a ticket's exact expected value),
``fields`` (checks of a value's fields when constructed), ``gateways`` (gateways and API keys),
``sessions`` (spec 02's billing type and session head), ``tickets`` (signed tickets, one
signing call), ``credit`` (credit policies, quotas per period, spend summaries),
``chain_events`` (our sender's TicketBroker events, redemptions, cursors), ``chain_view`` (our
chain position as the signer sees it, recipient checks), ``refusals`` (the one refusal of a
signing call, its reasons and their precedence), ``limits`` (the named limits more than one layer
checks).
"""
