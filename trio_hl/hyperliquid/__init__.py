"""Everything Hyperliquid-specific: wire formats, signing, nonces, meta, transport, streams, connector.
Shared by the connector and the emulator."""
