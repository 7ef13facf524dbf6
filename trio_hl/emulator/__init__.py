"""A local Hyperliquid speaking the real HTTP/WS protocol."""
