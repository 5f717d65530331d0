"""htx-cancel: cancel HTX USDT-margined orders over the trade socket and report each one truthfully."""
