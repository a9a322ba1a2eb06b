"""The buyer's e-receipt pages. Today a minimal read-only receipt; the template editor, personalization,
promo codes and tracking come with their own issue."""
