"""What POS software calls: the localhost checkout API (contract + router) and the POS simulator."""
