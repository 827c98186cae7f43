"""clearinghouse: signs Livepeer PM tickets for many gateways, meters and invoices them."""

__version__ = "0.1.0"
